from ceoline.cli import main

main()
