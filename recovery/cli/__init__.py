"""The ``recovery`` command, one module per command group; this module assembles them."""

import typer

from recovery.cli import serve as serve_commands
from recovery.cli import simulate as simulate_command
from recovery.cli.accounts import accounts_app
from recovery.cli.backfill import backfill
from recovery.cli.cases import cases_app
from recovery.cli.evaluate import evaluate_policy
from recovery.cli.experiments import experiments_app
from recovery.cli.inbox import inbox_app
from recovery.cli.metrics import metrics_app
from recovery.cli.outbound import outbound_app
from recovery.cli.policy import policy_app
from recovery.cli.scorer import train, versions_app
from recovery.cli.tokens import tokens_app

app = typer.Typer(help="Payment-recovery engine for Stripe Billing.", no_args_is_help=True)
app.command()(serve_commands.migrate)
app.command()(serve_commands.serve)
app.command(name="worker")(serve_commands.run_worker)
app.command()(simulate_command.simulate)
app.add_typer(inbox_app, name="inbox")
app.add_typer(cases_app, name="cases")
app.add_typer(metrics_app, name="metrics")
app.add_typer(policy_app, name="policy")
app.add_typer(experiments_app, name="experiments")
app.add_typer(tokens_app, name="tokens")
app.add_typer(outbound_app, name="outbound")
app.add_typer(accounts_app, name="accounts")
app.command()(train)
app.add_typer(versions_app, name="models")
app.command(name="evaluate-policy")(evaluate_policy)
app.command()(backfill)
