from django import template

from cards.render import render_markdown

register = template.Library()


@register.filter
def markdown(text):
    """Markdown → nh3-sanitised HTML, with the cards' renderer (one allow-list for every user-written Markdown)."""
    return render_markdown(text)
