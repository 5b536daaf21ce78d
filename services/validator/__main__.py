from services.common.runner import main

main("services.validator.app")
