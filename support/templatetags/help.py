import logging

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from support.help import article_find

register = template.Library()
log = logging.getLogger(__name__)

# A question mark in a circle, drawn inline (no image to fetch); hidden from screen
# readers, which read the link's text.
_ICON = mark_safe(  # noqa: S308 (a constant)
    '<svg class="help-icon" viewBox="0 0 16 16" width="16" height="16" '
    'aria-hidden="true" focusable="false"><circle cx="8" cy="8" r="7" fill="none" '
    'stroke="currentColor" stroke-width="1.5"/><path d="M6.2 6.2a1.9 1.9 0 1 1 2.6 '
    '1.7c-.5.2-.8.6-.8 1.1v.5" fill="none" stroke="currentColor" stroke-width="1.5" '
    'stroke-linecap="round"/><circle cx="8" cy="11.6" r=".9" fill="currentColor"/>'
    '</svg>')


@register.simple_tag
def help_link(slug: str, text: str = "") -> str:
    """`{% help_link "renewal-periods" %}`: a small link to a help article, saying the
    article's question ("How is the new period counted?") or `text`. An unknown slug
    renders nothing (and is logged): a page never fails for its help link. The tests
    check that every slug used in a template names an article."""
    article = article_find(slug)
    if article is None:
        log.error("help_link: no help article %r", slug)
        return ""
    return format_html('<a class="help-link" href="{}">{}<span>{}</span></a>',
                       reverse("help:article", args=[article.slug]),
                       _ICON, text or article.question)
