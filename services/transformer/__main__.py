from services.common.runner import main

main("services.transformer.app")
