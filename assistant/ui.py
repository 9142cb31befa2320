"""The Gradio chat, mounted at `/` of the FastAPI app.

Handlers (`respond`, `format_answer`, `format_sources`, `record_feedback`) are plain
functions outside the Blocks builder so they can be tested directly. Everything that
comes from documents or users is escaped before rendering: it shows as text, never as
HTML.

The chat obeys the server's `AccessPolicy` like the API: `mount_ui` puts every Gradio
route behind `ChatAccessMiddleware`, and each question counts against the asker's rate
limit (`question_refusal`), so scripts calling `/gradio_api` get no more than browsers.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import gradio as gr
from fastapi import FastAPI
from starlette.routing import Mount

from assistant.answering.base import refusal_reason
from assistant.security import AccessPolicy, ApiError, ChatAccessMiddleware
from assistant.service import Assistant, InvalidQuestion
from assistant.store import Feedback, add_feedback, set_feedback_comment

EXAMPLES = [
    "Can my company export rare earth concentrate from Malaysia?",
    "Who do I contact about rare earth opportunities in Malaysia?",
    "What tariff does the U.S. apply to imports from Malaysia under the new agreement?",
    "What financing can EXIM offer for critical minerals projects?",
    "Where are Malaysia's rare earth reserves and what are they worth?",
    "What does the U.S.–Malaysia critical minerals MOU cover?",
]

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~])")


def escape_markdown(text: str) -> str:
    """Text shown literally inside Markdown: no HTML, no Markdown syntax."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def highlighted_quote(citation: dict[str, Any]) -> str:
    """The quoted passage as HTML with the sentences the answer used in <mark>."""
    quote, start = citation["quote"], citation["start"]
    spans = sorted((s - start, e - start) for s, e in citation.get("highlights", []))
    parts, cursor = [], 0
    for span_start, span_end in spans:
        if span_start < cursor or span_end > len(quote):
            continue
        parts.append(html.escape(quote[cursor:span_start]))
        parts.append(f"<mark>{html.escape(quote[span_start:span_end])}</mark>")
        cursor = span_end
    parts.append(html.escape(quote[cursor:]))
    return "".join(parts)


def _link(citation: dict[str, Any]) -> str:
    title = html.escape(citation["title"])
    source = citation["source"]
    if source.startswith(("http://", "https://")):
        href = html.escape(source, quote=True)
        return f'<a href="{href}" target="_blank" rel="noopener noreferrer">{title}</a>'
    return title


def format_sources(answer: dict[str, Any]) -> str:
    """A collapsible "Sources" block: title (linked), publisher, date, the quoted passage."""
    citations = answer.get("citations") or []
    if not citations:
        return ""
    items = []
    for citation in citations:
        page = f" · page {citation['page']}" if citation.get("page") else ""
        items.append(
            f'<div class="mia-source"><strong>[{citation["n"]}]</strong> {_link(citation)}'
            f'<div class="mia-meta">{html.escape(citation["publisher"])} · '
            f"{html.escape(citation['date'])}{page}</div>"
            f"<blockquote>{highlighted_quote(citation)}</blockquote></div>"
        )
    return (
        f'<details class="mia-sources"><summary>Sources ({len(citations)})</summary>'
        + "".join(items)
        + "</details>"
    )


def format_answer(answer: dict[str, Any]) -> str:
    """The chat message for an answer: refusals look different from answers."""
    if answer.get("refused"):
        topics = answer.get("closest_topics") or []
        listed = "".join(f"<li>{html.escape(topic)}</li>" for topic in topics)
        closest = f"<p>Closest topics they do cover:</p><ul>{listed}</ul>" if topics else ""
        return (
            '<div class="mia-refusal"><span class="mia-refusal-label">Not in the documents</span>'
            f"<p>{html.escape(refusal_reason(answer.get('answer') or ''))}</p>{closest}</div>"
        )
    return answer_text_html(answer) + notes_html(answer) + "\n\n" + format_sources(answer)


def answer_text_html(answer: dict[str, Any]) -> str:
    """The answer text; sentences no cited source supports are marked as such."""
    text = answer["answer"]
    unsupported = [s["text"] for s in answer.get("sentences") or [] if not s.get("supported", True)]
    parts, cursor = [], 0
    for sentence in unsupported:
        start = text.find(sentence, cursor)
        if start < 0:
            continue
        parts.append(escape_markdown(text[cursor:start]))
        parts.append(
            '<span class="mia-unsupported" title="No cited source supports this sentence">'
            f"{html.escape(sentence)}</span>"
        )
        cursor = start + len(sentence)
    parts.append(escape_markdown(text[cursor:]))
    return "".join(parts)


def notes_html(answer: dict[str, Any]) -> str:
    """Notes the user should see: a fallback, removed citations, unsupported sentences."""
    notes = answer.get("notes") or []
    return "".join(f'\n\n<p class="mia-note">{html.escape(note)}</p>' for note in notes)


def conversation(turns: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The history the assistant needs: earlier questions and answer texts."""
    history: list[dict[str, str]] = []
    for turn in turns:
        history.append({"role": "user", "content": turn["question"]})
        history.append({"role": "assistant", "content": turn["answer"]["answer"]})
    return history


def question_refusal(policy: AccessPolicy, request: gr.Request | None) -> str | None:
    """Why the chat may not answer this asker now (over the rate limit, key revoked), or
    None; counts the question against the asker's limit, which their API requests share."""
    connection = request.request if request is not None else None
    if connection is None:
        return "The server could not tell who is asking; reload the page."
    try:
        policy.admit(policy.chat_caller(connection))
    except ApiError as error:
        return str(error.detail)
    return None


def respond(
    assistant: Assistant,
    message: str,
    chat: list[dict[str, Any]],
    turns: list[dict[str, Any]],
    refusal: str | None = None,
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]], str]]:
    """Stream one answer into the chat: yields (chat, turns, textbox value). With a
    `refusal` (see `question_refusal`) the chat shows it as a warning instead of answering."""
    chat = [*chat, {"role": "user", "content": escape_markdown(message)}]
    problem = refusal
    if problem is None:
        try:
            assistant.validate_question(message)
        except InvalidQuestion as error:
            problem = str(error)
    if problem is not None:
        yield [*chat, {"role": "assistant", "content": f"⚠️ {escape_markdown(problem)}"}], turns, ""
        return
    partial = ""
    for event in assistant.stream(message, conversation(turns)):
        if event.kind == "token":
            partial += event.data
            yield [*chat, {"role": "assistant", "content": escape_markdown(partial)}], turns, ""
        else:
            answer = event.data.to_dict()
            turns = [*turns, {"question": message, "answer": answer}]
            yield [*chat, {"role": "assistant", "content": format_answer(answer)}], turns, ""


def record_feedback(
    assistant: Assistant,
    turns: list[dict[str, Any]],
    message_index: int,
    liked: bool,
) -> int | None:
    """Store a thumb on the answer at chat message `message_index`; returns its id."""
    turn_index = message_index // 2
    if not 0 <= turn_index < len(turns):
        return None
    turn = turns[turn_index]
    answer = turn["answer"]
    return add_feedback(
        assistant.settings,
        Feedback(
            rating="up" if liked else "down",
            question=turn["question"],
            answer=answer["answer"],
            history=conversation(turns[:turn_index]),
            citations=answer["citations"],
            refused=answer["refused"],
            surface="chat",
        ),
    )


def header_html(stats: dict[str, Any]) -> str:
    newest = stats.get("newest_document_date") or "unknown"
    return (
        '<div class="mia-header"><h1>Market Intelligence Assistant</h1>'
        f"<p>Answers from {stats['documents']} public documents on Malaysia's critical minerals, "
        f"rare earths and U.S.–Malaysia trade (newest dated {html.escape(newest)}). "
        "Every sentence is quoted from a source you can check.</p></div>"
    )


def build_ui(assistant: Assistant, policy: AccessPolicy, staff: bool = False) -> gr.Blocks:
    """The chat page, its questions limited by `policy`; with `staff`, a second tab for
    answer quality and one to manage documents (shown to staff only, see documents_ui)."""
    with gr.Blocks(title="Market Intelligence Assistant", fill_height=True) as blocks:
        gr.HTML(header_html(assistant.stats()))
        with gr.Tab("Chat", elem_id="chat-tab"):
            build_chat(assistant, policy)
        if staff:
            from assistant.quality_ui import build_quality_tab

            with gr.Tab("Quality", elem_id="quality-tab") as quality_tab:
                build_quality_tab(assistant, quality_tab)
            from assistant.documents_ui import build_documents_tab

            with gr.Tab("Documents", visible=False, elem_id="documents-tab") as documents_tab:
                build_documents_tab(assistant, policy, blocks, documents_tab)
    return blocks


def build_chat(assistant: Assistant, policy: AccessPolicy) -> None:
    """The conversation: chatbot, question box, examples, thumbs and comments."""
    turns = gr.State([])
    feedback_id = gr.State(None)
    chatbot = gr.Chatbot(
        label="Conversation",
        show_label=False,
        height="60vh",
        buttons=["copy"],
        feedback_options=("Like", "Dislike"),
        placeholder="Ask about export rules, tariffs, financing programmes or who to contact.",
        examples=[{"text": example} for example in EXAMPLES],
        elem_id="chat",
    )
    with gr.Row():
        textbox = gr.Textbox(
            placeholder="Ask a question about the documents…",
            show_label=False,
            scale=8,
            autofocus=True,
            submit_btn=True,
            elem_id="question",
        )
        new_chat = gr.Button("New chat", scale=1, variant="secondary", elem_id="new-chat")
    with gr.Row(visible=False, elem_id="feedback-comment") as comment_row:
        comment = gr.Textbox(placeholder="What was wrong or right? (optional)", show_label=False, scale=8)
        send_comment = gr.Button("Send comment", scale=1)

    def on_submit(message, chat, state, request: gr.Request):
        yield from respond(assistant, message, chat, state, question_refusal(policy, request))

    def on_example(selection: gr.SelectData, chat, state, request: gr.Request):
        text = selection.value["text"]
        yield from respond(assistant, text, chat, state, question_refusal(policy, request))

    def on_like(data: gr.LikeData, state, request: gr.Request):
        if data.liked is None:  # the thumb was taken back
            return None, gr.update(visible=False)
        refusal = question_refusal(policy, request)  # each thumb stores a row, as /api/feedback
        if refusal:
            gr.Warning(refusal)
            return None, gr.update(visible=False)
        index = data.index if isinstance(data.index, int) else data.index[0]
        stored = record_feedback(assistant, state, index, bool(data.liked))
        return stored, gr.update(visible=stored is not None)

    def on_comment(text, stored):
        if stored is not None and text.strip():
            set_feedback_comment(assistant.settings, stored, text.strip())
        return "", gr.update(visible=False)

    textbox.submit(on_submit, [textbox, chatbot, turns], [chatbot, turns, textbox])
    chatbot.example_select(on_example, [chatbot, turns], [chatbot, turns, textbox])
    chatbot.like(on_like, [turns], [feedback_id, comment_row])
    send_comment.click(on_comment, [comment, feedback_id], [comment, comment_row])
    new_chat.click(
        lambda: ([], [], None, gr.update(visible=False)),
        None,
        [chatbot, turns, feedback_id, comment_row],
    )


def mount_ui(app: FastAPI, assistant: Assistant, staff: bool = False) -> FastAPI:
    """Mount the chat at `/` of an app made by `create_app`, under that app's access policy,
    with a system-font theme (no web fonts fetched) and no footer."""
    policy = getattr(app.state, "policy", None)
    if not isinstance(policy, AccessPolicy):
        raise ValueError(
            "mount_ui needs an app made by assistant.api.create_app (it holds the access policy)"
        )
    theme = gr.themes.Soft(
        font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )
    from assistant.api import add_unmatched_routes

    css = resources.files("assistant").joinpath("ui.css").read_text(encoding="utf-8")
    add_unmatched_routes(app)
    app = gr.mount_gradio_app(
        app, build_ui(assistant, policy, staff), path="/", footer_links=[], theme=theme, css=css
    )
    chat_mounts = [route for route in app.router.routes if isinstance(route, Mount) and route.path == ""]
    if len(chat_mounts) != 1:
        raise RuntimeError(f"expected the chat mounted once at /, found {len(chat_mounts)} mounts")
    chat_mounts[0].app = ChatAccessMiddleware(chat_mounts[0].app, policy)
    return app
