"""Ship the terms in force, version 2025-11-14 (the old service's current version), so that a
fresh install has terms for the gate to ask for and for the old accept-terms API to accept.
Later versions are published in the admin, not by migrations."""

from datetime import UTC, datetime

from django.db import migrations

VERSION = "2025-11-14"
PUBLISHED_AT = datetime(2025, 11, 14, tzinfo=UTC)
TEXT = """\
Levqor terms of service, version 2025-11-14

1. The service. Levqor runs the automation jobs (workflows) you submit through its API or its pages and shows you their results. These terms apply to every use of it, by you and by anyone using your API keys.

2. Your account and keys. You sign in with a link sent to your email address. Keep your API keys secret: anything done with a key counts as done by you. Revoke a key in the developer portal as soon as you think it has leaked.

3. Acceptable use. Do not use Levqor for anything unlawful, to send spam, to attack or overload other systems, to reach systems you are not allowed to reach, or to get around its limits. We may refuse or stop jobs that break these terms.

4. Limits and charges. Your tier's monthly call quota, the rate limits and the per-job and daily cost limits apply to every request. Test-mode keys run jobs without real side effects. Paid tiers are billed at the price shown when you choose them.

5. Your data. The payloads you submit and their results stay yours; we process them only to run your jobs and to show them to you. A job that calls another service sends it the data you put in the job. The privacy page (/privacy) says what we keep and why; you can download your data or delete your account from your settings at any time.

6. Availability. We work to keep Levqor running and your jobs safe, but it is provided as it is, without a promise that it will never fail.

7. Ending. You may stop using Levqor and delete your account at any time. We may suspend an account that breaks these terms, and we say why.

8. Changes. When these terms change we publish a new version. Signed-in users are asked to accept it before they continue; until then the version they accepted applies.
"""


def terms_publish(apps, schema_editor):
    # Idempotent: a row of this version (from an earlier run, or published in the admin) is kept as it is.
    TermsVersion = apps.get_model("compliance", "TermsVersion")
    TermsVersion.objects.get_or_create(version=VERSION, defaults={"published_at": PUBLISHED_AT, "text": TEXT})


def terms_unpublish(apps, schema_editor):
    # Acceptances of the version are the proof of who agreed to what: they keep it (and it them).
    TermsVersion = apps.get_model("compliance", "TermsVersion")
    TermsVersion.objects.filter(version=VERSION, acceptances__isnull=True).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("compliance", "0001_terms_consent_marketing"),
    ]

    operations = [
        migrations.RunPython(terms_publish, terms_unpublish),
    ]
