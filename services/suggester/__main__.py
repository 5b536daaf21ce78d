from services.common.runner import main

main("services.suggester.app")
