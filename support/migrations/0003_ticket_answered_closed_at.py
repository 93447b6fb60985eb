from django.db import migrations, models
from django.db.models import Max, OuterRef, Q, Subquery


def stamp_answered_and_closed(apps, schema_editor):
    """Tickets answered or closed before the timestamps existed: the last reply from
    support (else the last update), and the last update."""
    Ticket = apps.get_model("support", "Ticket")
    TicketMessage = apps.get_model("support", "TicketMessage")
    last_reply = (TicketMessage.objects.filter(ticket=OuterRef("pk"), from_staff=True)
                  .values("ticket").annotate(at=Max("created_at")).values("at"))
    Ticket.objects.filter(status="answered").update(answered_at=Subquery(last_reply))
    Ticket.objects.filter(status="answered", answered_at__isnull=True).update(
        answered_at=models.F("updated_at"))
    Ticket.objects.filter(status="closed").update(closed_at=models.F("updated_at"))


class Migration(migrations.Migration):

    dependencies = [
        ('support', '0002_tickets'),
    ]

    operations = [
        migrations.AddField(
            model_name='ticket',
            name='answered_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='last answered'),
        ),
        migrations.AddField(
            model_name='ticket',
            name='closed_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='closed'),
        ),
        migrations.RunPython(stamp_answered_and_closed, migrations.RunPython.noop),
    ]
