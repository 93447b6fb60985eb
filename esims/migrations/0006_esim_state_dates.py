from django.db import migrations, models
from django.db.models import F


def date_undated_states(apps, schema_editor):
    """Give the rows the constraints below would refuse the best date they have: an
    eSIM reinstalled by a renewal after it expired before any install report came was
    saved installed without `installed_at`."""
    ESim = apps.get_model("esims", "ESim")
    ESim.objects.filter(state="installed", installed_at__isnull=True).update(
        installed_at=F("updated_at"))
    ESim.objects.filter(state="ready", ready_at__isnull=True).update(ready_at=F("updated_at"))
    ESim.objects.filter(state__in=["expired", "suspended"], ready_at__isnull=True,
                        installed_at__isnull=True).update(ready_at=F("created_at"))


class Migration(migrations.Migration):

    dependencies = [
        ('esims', '0005_renewal_attention'),
    ]

    operations = [
        migrations.RunPython(date_undated_states, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='esim',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('state', 'ready'), _negated=True), ('ready_at__isnull', False), _connector='OR'), name='esim_ready_has_ready_at'),
        ),
        migrations.AddConstraint(
            model_name='esim',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('state', 'installed'), _negated=True), ('installed_at__isnull', False), _connector='OR'), name='esim_installed_has_installed_at'),
        ),
        migrations.AddConstraint(
            model_name='esim',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('state', 'cancelled'), _negated=True), ('installed_at__isnull', True), _connector='OR'), name='esim_cancelled_never_installed'),
        ),
        migrations.AddConstraint(
            model_name='esim',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('state__in', ['expired', 'suspended']), _negated=True), ('ready_at__isnull', False), ('installed_at__isnull', False), _connector='OR'), name='esim_expired_or_suspended_was_ready'),
        ),
    ]
