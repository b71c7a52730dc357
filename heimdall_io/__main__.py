from heimdall_cli.main import main

main(prog_name="heimdall")
