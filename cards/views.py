import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from registry.access import enforce
from registry.selectors import version_get_for_user

from . import selectors, services
from .access import card_edit_refusal, card_profile_refusal
from .document import card_facts, card_json, card_markdown, generated_sections
from .forms import PreviewForm, ProfileForm, SectionForm
from .render import render_markdown
from .sections import SECTIONS_BY_KEY


def _card_detail(request, page, profile_form=None, status=200):
    if profile_form is None and page.can_edit:
        profile_form = ProfileForm(initial={"profile": page.profile.key})
    context = {"page": page, "version": page.version, "profile_form": profile_form}
    return render(request, "cards/card_detail.html", context, status=status)


@login_required
def card_detail(request, name, version):
    return _card_detail(request, selectors.card_page(version_get_for_user(request.user, name, version), request.user))


@login_required
@require_POST
def profile_change(request, name, version):
    model_version = version_get_for_user(request.user, name, version)
    enforce(card_profile_refusal(request.user, model_version))
    form = ProfileForm(request.POST)
    if form.is_valid():
        try:
            revision = services.card_profile_change(
                actor=request.user, version=model_version, profile=form.cleaned_data["profile"]
            )
        except services.NothingChanged as exc:
            messages.info(request, f"Nothing changed: {exc}.")
            return redirect("cards:card_detail", name, version)
        except services.EditConflict:
            form.add_error(None, "Someone saved the card at the same moment: choose the profile again.")
        else:
            messages.success(
                request, f"Saved revision {revision.number}: the card follows {revision.get_profile_display()}."
            )
            return redirect("cards:card_detail", name, version)
    return _card_detail(request, selectors.card_page(model_version, request.user), form, status=400)


@login_required
def publication_status(request, name, version):
    page = selectors.card_page(version_get_for_user(request.user, name, version), request.user)
    response = render(request, "cards/card_detail.html#publication", {"page": page, "version": page.version})
    if page.publication is None or page.publication.is_done:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@login_required
@require_POST
def publish_again(request, name, version):
    model_version = version_get_for_user(request.user, name, version)
    revision = selectors.card_revision_latest(model_version)
    if revision is None:
        raise Http404("this version has no saved card to publish")
    services.card_publication_retry(actor=request.user, version=model_version, revision=revision)
    if request.htmx:
        return publication_status(request, name, version)
    messages.info(request, f"Publishing revision {revision.number} to MLflow again.")
    return redirect("cards:card_detail", name, version)


def _editable_version(request, name, version):
    model_version = version_get_for_user(request.user, name, version)
    enforce(card_edit_refusal(request.user, model_version))
    return model_version


@login_required
def section_edit(request, name, version, section):
    model_version = _editable_version(request, name, version)
    section = SECTIONS_BY_KEY.get(section)
    if section is None:
        raise Http404("no such card section")
    latest = selectors.card_revision_latest(model_version)
    if request.method == "POST":
        form = SectionForm(request.POST)
        if form.is_valid():
            text = form.cleaned_data["text"]
            try:
                revision = services.card_revision_create(
                    actor=request.user,
                    version=model_version,
                    changes={section.key: text},
                    base_revision_id=form.cleaned_data["base_revision"],
                    summary=form.cleaned_data["summary"],
                )
            except services.EditConflict as conflict:
                return _conflict(request, model_version, section, conflict.latest, form.cleaned_data)
            except services.NothingChanged:
                form.add_error("text", "Nothing changed: edit the text before saving.")
            except ValidationError as exc:
                for key, errors in exc.message_dict.items():
                    form.add_error("text" if key == section.key else None, errors)
            else:
                messages.success(request, f"Saved revision {revision.number} of the card; publishing it to MLflow.")
                return redirect(reverse("cards:card_detail", args=[name, version]) + f"#{section.key}")
    else:
        text = (
            latest.sections.get(section.key, "")
            if latest
            else selectors.card_draft_sections(model_version)[0][section.key]
        )
        form = SectionForm(initial={"text": text, "base_revision": latest.pk if latest else None})
    return render(
        request,
        "cards/section_edit.html",
        {
            "version": model_version,
            "section": section,
            "form": form,
            "latest": latest,
            "generated_html": render_markdown(generated_sections(card_facts(model_version)).get(section.key, "")),
            "preview_html": render_markdown(form["text"].value() or ""),
        },
        status=400 if form.errors else 200,
    )


def _conflict(request, model_version, section, latest, submitted):
    theirs = latest.sections.get(section.key, "") if latest else ""
    form = SectionForm(
        initial={
            "text": submitted["text"],
            "summary": submitted["summary"],
            "base_revision": latest.pk if latest else None,
        }
    )
    diff = selectors.diff_sections(
        {section.key: theirs}, {section.key: submitted["text"]}, old_label="theirs", new_label="yours"
    )
    return render(
        request,
        "cards/conflict.html",
        {
            "version": model_version,
            "section": section,
            "latest": latest,
            "theirs": theirs,
            "yours": submitted["text"],
            "diff": diff,
            "form": form,
        },
        status=409,
    )


@login_required
@require_POST
def preview(request, name, version):
    _editable_version(request, name, version)
    form = PreviewForm(request.POST)
    context = {"form": form, "preview_html": render_markdown(form.cleaned_data["text"]) if form.is_valid() else ""}
    return render(request, "cards/section_edit.html#preview", context)


@login_required
def history(request, name, version):
    model_version = version_get_for_user(request.user, name, version)
    latest = selectors.card_revision_latest(model_version)
    revisions = selectors.card_revisions(latest)
    by_number = {r.number: r for r in revisions}
    diff, older, newer = None, None, None
    if "a" in request.GET or "b" in request.GET:
        try:
            older, newer = by_number[int(request.GET.get("a", ""))], by_number[int(request.GET.get("b", ""))]
        except (KeyError, ValueError):
            messages.error(request, "Choose two revisions of this card to compare.")
        else:
            diff = selectors.diff_sections(
                older.sections, newer.sections, old_label=f"r{older.number}", new_label=f"r{newer.number}"
            )
    return render(
        request,
        "cards/history.html",
        {"version": model_version, "revisions": revisions, "diff": diff, "older": older, "newer": newer},
    )


@login_required
def export_markdown(request, name, version):
    page = selectors.card_page(version_get_for_user(request.user, name, version), request.user)
    text = card_markdown(page.facts, page.sections, revision=page.revision, profile=page.profile)
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(page, "md")}"'
    return response


@login_required
def export_json(request, name, version):
    page = selectors.card_page(version_get_for_user(request.user, name, version), request.user)
    payload = card_json(page.facts, page.sections, revision=page.revision)
    response = HttpResponse(
        json.dumps(payload, indent=2, ensure_ascii=False), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename(page, "json")}"'
    return response


def _filename(page, extension):
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in page.version.model.name)
    return f"{safe}-v{page.version.version}-model_card.{extension}"
