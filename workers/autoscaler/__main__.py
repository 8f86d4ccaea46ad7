from workers.autoscaler.main import main

main()
