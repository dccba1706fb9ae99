"""Settings of the `make chaos` rehearsal only (scripts/chaos/run.sh puts this directory on
PYTHONPATH): the project's own settings, plus the `chaosapp` app, which registers the
`chaos.flow` workflow that logs every run to a file of its host. Never used in production."""

from levqor.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "chaosapp.apps.ChaosAppConfig"]  # noqa: F405
