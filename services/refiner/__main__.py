from services.common.runner import main

main("services.refiner.app")
