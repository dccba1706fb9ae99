"""django-q2 entry points of the accounts app: call a service, nothing else."""

from accounts.login import login_token_purge


def login_tokens_purge():
    return login_token_purge()
