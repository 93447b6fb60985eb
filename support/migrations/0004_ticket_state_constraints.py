from django.db import migrations, models
from django.db.models import Q


# Apart from 0003: PostgreSQL adds no constraint to a table in the transaction that
# updated its rows.
class Migration(migrations.Migration):

    dependencies = [
        ('support', '0003_ticket_answered_closed_at'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='ticket',
            constraint=models.CheckConstraint(
                condition=~Q(status="answered") | Q(answered_at__isnull=False),
                name='ticket_answered_has_answered_at'),
        ),
        migrations.AddConstraint(
            model_name='ticket',
            constraint=models.CheckConstraint(
                condition=Q(status="closed", closed_at__isnull=False)
                | (~Q(status="closed") & Q(closed_at__isnull=True)),
                name='ticket_closed_iff_closed_at'),
        ),
    ]
