from edge.cli import app

app(prog_name="guanjia edge")
