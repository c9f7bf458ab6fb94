from hala_exp.cli import main

main()
