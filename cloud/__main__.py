from cloud.cli import app

app(prog_name="guanjia cloud")
