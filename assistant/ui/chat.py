"""The Gradio chat, mounted at `/` of the FastAPI app.

Handlers (`respond`, `format_answer`, `format_sources`, `record_feedback`) are plain
functions outside the Blocks builder so they can be tested directly. Everything that
comes from documents or users is escaped before rendering: it shows as text, never as
HTML.

The conversation is a list of turns (`Turn`); what the chat shows is `chat_messages(turns)`,
so the n-th answer in the chat is always turns[n], and the browser keeps the turns
(`gr.BrowserState`) to show them again after a reload. The small script in `CHAT_SCRIPT`
makes the `[n]` markers and the copy button in answers work.

The chat obeys the server's `AccessPolicy` like the API: `mount_ui` puts every Gradio
route behind `ChatAccessMiddleware`, and each question counts against the asker's rate
limit (`question_refusal`), so scripts calling `/gradio_api` get no more than browsers.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any, NotRequired

import gradio as gr
from fastapi import FastAPI
from gradio.context import Context
from pydantic import TypeAdapter, ValidationError
from starlette.routing import Mount
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from assistant.answering.base import refusal_reason
from assistant.security import AccessPolicy, ApiError, ChatAccessMiddleware
from assistant.service import Assistant, InvalidQuestion
from assistant.store import Feedback, add_feedback, set_feedback_comment
from assistant.text import escape_markdown, marked_html, quote_spans

EXAMPLES = [
    "Can my company export rare earth concentrate from Malaysia?",
    "Who do I contact about rare earth opportunities in Malaysia?",
    "What tariff does the U.S. apply to imports from Malaysia under the new agreement?",
    "What financing can EXIM offer for critical minerals projects?",
    "Where are Malaysia's rare earth reserves and what are they worth?",
    "What does the U.S.–Malaysia critical minerals MOU cover?",
]

# Where the browser keeps the conversation (localStorage, encrypted by Gradio), and how
# much of it: every question sends nothing of it, but each reload restores it.
STORAGE_KEY = "market-intelligence-chat:v1"
MAX_STORED_TURNS = 20
# Sources start open when there are this many or fewer: one or two are read, not skimmed.
OPEN_SOURCES_UP_TO = 2
STOPPED = "Stopped before the answer was complete, so no sources are shown."
SEARCHING = "Looking in the documents…"  # shown until the first words of the answer
# Front matter says "unknown" for documents without a date; either way no date is shown.
NO_DATE = {"", "unknown"}

_CITATION_MARKER = re.compile(r"\[(\d+)\]")


class ShownCitation(TypedDict):
    """A citation as the chat keeps it: what it shows, and what feedback stores."""

    n: int
    title: str
    source: str
    publisher: str
    date: str
    page: int | None
    quote: str
    start: int
    end: NotRequired[int]
    score: NotRequired[float]
    path: NotRequired[str]
    chunk_id: NotRequired[str]
    highlights: NotRequired[list[tuple[int, int]]]


class ShownSentence(TypedDict):
    text: str
    supported: NotRequired[bool]


class ShownAnswer(TypedDict):
    """The part of an `Answer` the chat shows (no diagnostics: they are for staff)."""

    answer: str
    refused: bool
    citations: list[ShownCitation]
    sentences: NotRequired[list[ShownSentence]]
    closest_topics: NotRequired[list[str]]
    notes: NotRequired[list[str]]


class Turn(TypedDict):
    """One exchange: the question and its answer, or the `problem` that kept it from being
    answered (a rate limit, an invalid question). Neither means it was stopped, after the
    `partial` text it had streamed."""

    question: str
    answer: ShownAnswer | None
    problem: str | None
    partial: NotRequired[str]


_SHOWN_ANSWER = TypeAdapter(ShownAnswer)
_TURNS = TypeAdapter(list[Turn])


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _link(citation: dict[str, Any]) -> str:
    title = html.escape(citation["title"])
    source = citation["source"]
    if _is_url(source):
        href = html.escape(source, quote=True)
        return f'<a href="{href}" target="_blank" rel="noopener noreferrer">{title}</a>'
    return title


def source_details(citation: dict[str, Any]) -> list[str]:
    """Publisher, date and page, leaving out what the document does not say (an undated
    document shows no date, not "unknown")."""
    date = (citation.get("date") or "").strip()
    page = citation.get("page")
    return [
        part
        for part in (
            (citation.get("publisher") or "").strip(),
            "" if date.lower() in NO_DATE else date,
            f"page {page}" if page else "",
        )
        if part
    ]


def format_sources(answer: dict[str, Any]) -> str:
    """A collapsible "Sources" block: title (linked), publisher, date, the quoted passage.
    Open when there are few sources; each one can be shown by its `[n]` in the text."""
    citations = answer.get("citations") or []
    if not citations:
        return ""
    items = []
    for citation in citations:
        details = " · ".join(html.escape(part) for part in source_details(citation))
        items.append(
            f'<div class="mia-source mia-source-{int(citation["n"])}" tabindex="-1">'
            f"<strong>[{citation['n']}]</strong> {_link(citation)}"
            f'<div class="mia-meta">{details}</div>'
            f"<blockquote>{marked_html(citation['quote'], quote_spans(citation))}</blockquote></div>"
        )
    opened = " open" if len(citations) <= OPEN_SOURCES_UP_TO else ""
    return (
        f'<details class="mia-sources"{opened}><summary>Sources ({len(citations)})</summary>'
        + "".join(items)
        + "</details>"
    )


def plain_text(answer: dict[str, Any]) -> str:
    """The answer as plain text with its numbered sources: what the copy button copies
    (the chat's own message is Markdown and HTML)."""
    if answer.get("refused"):
        lines = [refusal_reason(answer.get("answer") or "")]
        topics = answer.get("closest_topics") or []
        if topics:
            lines += ["", "Closest topics they do cover:", *(f"- {topic}" for topic in topics)]
        return "\n".join(lines)
    lines = [answer["answer"]]
    citations = answer.get("citations") or []
    if citations:
        lines += ["", "Sources:"]
    for citation in citations:
        details = ", ".join(source_details(citation))
        line = f"[{citation['n']}] {citation['title']}" + (f" ({details})" if details else "")
        lines.append(line + (f" {citation['source']}" if _is_url(citation["source"]) else ""))
    return "\n".join(lines)


def copy_button(answer: dict[str, Any]) -> str:
    """A button that copies `plain_text(answer)` (see CHAT_SCRIPT). The text rides in its
    `value` (Gradio's sanitizer drops data-* attributes) with line breaks as entities, so
    Markdown leaves it whole."""
    text = html.escape(plain_text(answer), quote=True).replace("\n", "&#10;")
    return (
        '<div class="mia-actions"><button type="button" class="mia-copy" '
        f'title="Copy the answer and its sources as plain text" value="{text}">'
        "Copy</button></div>"
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
            f"\n\n{copy_button(answer)}"
        )
    return (
        answer_text_html(answer)
        + notes_html(answer)
        + "\n\n"
        + format_sources(answer)
        + "\n\n"
        + copy_button(answer)
    )


def with_citation_buttons(text: str, numbers: set[int], escape: Callable[[str], str]) -> str:
    """`text` escaped by `escape`, with each `[n]` of a listed source as a button that shows
    that source; other brackets stay text."""
    parts, cursor = [], 0
    for marker in _CITATION_MARKER.finditer(text):
        n = int(marker.group(1))
        if n not in numbers:
            continue
        parts.append(escape(text[cursor : marker.start()]))
        parts.append(
            f'<button type="button" class="mia-cite" value="{n}" title="Show source {n}">[{n}]</button>'
        )
        cursor = marker.end()
    parts.append(escape(text[cursor:]))
    return "".join(parts)


def answer_text_html(answer: dict[str, Any]) -> str:
    """The answer text with clickable `[n]`; sentences no cited source supports are marked."""
    text = answer["answer"]
    numbers = {int(citation["n"]) for citation in answer.get("citations") or []}
    unsupported = [s["text"] for s in answer.get("sentences") or [] if not s.get("supported", True)]
    parts, cursor = [], 0
    for sentence in unsupported:
        start = text.find(sentence, cursor)
        if start < 0:
            continue
        parts.append(with_citation_buttons(text[cursor:start], numbers, escape_markdown))
        parts.append(
            '<span class="mia-unsupported" title="No cited source supports this sentence">'
            f"{with_citation_buttons(sentence, numbers, html.escape)}</span>"
        )
        cursor = start + len(sentence)
    parts.append(with_citation_buttons(text[cursor:], numbers, escape_markdown))
    return "".join(parts)


def notes_html(answer: dict[str, Any]) -> str:
    """Notes the user should see: a fallback, removed citations, unsupported sentences."""
    notes = answer.get("notes") or []
    return "".join(f'\n\n<p class="mia-note">{html.escape(note)}</p>' for note in notes)


def conversation(turns: list[Turn]) -> list[dict[str, str]]:
    """The history the assistant needs: earlier questions and answer texts (turns that
    were stopped or refused by a rate limit are left out)."""
    history: list[dict[str, str]] = []
    for turn in turns:
        if turn["answer"] is not None:
            history.append({"role": "user", "content": turn["question"]})
            history.append({"role": "assistant", "content": turn["answer"]["answer"]})
    return history


def reply_html(turn: Turn) -> str:
    """What the chat shows as the reply to one turn."""
    if turn["answer"] is not None:
        return format_answer(dict(turn["answer"]))
    if turn["problem"] is not None:
        return f"⚠️ {escape_markdown(turn['problem'])}"
    partial = turn.get("partial", "")
    shown = f"{escape_markdown(partial)}\n\n" if partial else ""
    return f'{shown}<p class="mia-note">{STOPPED}</p>'


def chat_messages(turns: list[Turn]) -> list[dict[str, str]]:
    """The chat's messages for a conversation: a question and its reply per turn."""
    messages = []
    for turn in turns:
        messages.append({"role": "user", "content": escape_markdown(turn["question"])})
        messages.append({"role": "assistant", "content": reply_html(turn)})
    return messages


def shown_answer(answer: dict[str, Any]) -> ShownAnswer:
    """The part of an answer the chat keeps (`Answer.public_dict()` in, no diagnostics out)."""
    return _SHOWN_ANSWER.validate_python(answer)


def restored_turns(stored: Any) -> list[Turn]:
    """The conversation the browser kept, checked: browser storage is the user's to edit
    and may hold an older format, so anything malformed starts a new chat."""
    try:
        return _TURNS.validate_python(stored or [])[-MAX_STORED_TURNS:]
    except ValidationError:
        return []


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
    turns: list[Turn],
    refusal: str | None = None,
) -> Iterator[tuple[Any, Any, Any]]:
    """Stream one answer into the chat: yields (chat, turns, stored turns),
    `gr.skip()` where nothing changed. With a `refusal` (see `question_refusal`) the chat
    shows it as a warning instead of answering.

    The question is a turn from the first yield on, unanswered (with the text streamed so
    far) until the answer is complete, so an answer stopped midway stays in the
    conversation as stopped, showing what it had said."""
    problem = refusal
    question = message
    if problem is None:
        try:
            question = assistant.validate_question(message)
        except InvalidQuestion as error:
            problem = str(error)
    if problem is not None:
        turns = [*turns, Turn(question=message, answer=None, problem=problem)]
        yield chat_messages(turns), turns, turns[-MAX_STORED_TURNS:]
        return
    earlier = chat_messages(turns)
    asked = {"role": "user", "content": escape_markdown(question)}
    pending = [*turns, Turn(question=question, answer=None, problem=None)]
    searching = {"role": "assistant", "content": f'<p class="mia-pending">{SEARCHING}</p>'}
    yield [*earlier, asked, searching], pending, gr.skip()
    partial = ""
    for event in assistant.stream(question, conversation(turns)):
        if event.kind == "token":
            partial += event.data
            reply = {"role": "assistant", "content": escape_markdown(partial)}
            stopped_here = Turn(question=question, answer=None, problem=None, partial=partial)
            yield [*earlier, asked, reply], [*turns, stopped_here], gr.skip()
        else:
            answer = shown_answer(event.data.public_dict())
            turns = [*turns, Turn(question=question, answer=answer, problem=None)]
            yield chat_messages(turns), turns, turns[-MAX_STORED_TURNS:]


def stopped_turns(turns: list[Turn], question: str, turns_before: int) -> list[Turn]:
    """The conversation once Stop is pressed: the question stays in it, marked as stopped.
    On a busy server Stop can come before the answer's first step has run, so before
    `respond` has added the question to `turns`: then it is added here, unanswered."""
    if len(turns) > turns_before:
        return turns
    return [*turns, Turn(question=question, answer=None, problem=None)]


def record_feedback(
    assistant: Assistant,
    turns: list[Turn],
    message_index: int,
    liked: bool,
) -> int | None:
    """Store a thumb on the answer at chat message `message_index`; returns its id, or None
    when that message is no answer (a warning, a stopped turn)."""
    turn_index = message_index // 2
    if not 0 <= turn_index < len(turns):
        return None
    turn = turns[turn_index]
    answer = turn["answer"]
    if answer is None:
        return None
    return add_feedback(
        assistant.settings,
        Feedback(
            rating="up" if liked else "down",
            question=turn["question"],
            answer=answer["answer"],
            history=conversation(turns[:turn_index]),
            citations=[dict(citation) for citation in answer["citations"]],
            refused=answer["refused"],
            surface="chat",
        ),
    )


def header_html(stats: dict[str, Any]) -> str:
    newest = stats.get("newest_document_date")
    dated = f" (newest dated {html.escape(newest)})" if newest and newest.lower() not in NO_DATE else ""
    documents = f"{stats['documents']} public document" + ("" if stats["documents"] == 1 else "s")
    return (
        '<div class="mia-header"><h1>Market Intelligence Assistant</h1>'
        f"<p>Answers from {documents} on Malaysia's critical minerals, "
        f"rare earths and U.S.–Malaysia trade{dated}. "
        "Every sentence is quoted from a source you can check.</p></div>"
    )


def build_ui(assistant: Assistant, policy: AccessPolicy, staff: bool = False) -> gr.Blocks:
    """The chat page, its questions limited by `policy`; with `staff`, a second tab for
    answer quality and one to manage documents (shown to staff only, see documents_ui)."""

    def current_header() -> str:
        return header_html(assistant.stats())

    with gr.Blocks(title="Market Intelligence Assistant", fill_height=True) as blocks:
        header = gr.HTML(current_header())
        # A page opened after an ingest elsewhere (or a replica's sync) shows today's count.
        blocks.load(current_header, None, header, api_visibility="undocumented")
        with gr.Tab("Chat", elem_id="chat-tab"):
            build_chat(assistant, policy)
        if staff:
            from assistant.ui.quality_tab import build_quality_tab

            with gr.Tab("Quality", elem_id="quality-tab") as quality_tab:
                build_quality_tab(assistant, quality_tab)
            from assistant.ui.documents_tab import build_documents_tab

            with gr.Tab("Documents", visible=False, elem_id="documents-tab") as documents_tab:
                build_documents_tab(assistant, policy, blocks, documents_tab, (current_header, header))
    return blocks


def build_chat(assistant: Assistant, policy: AccessPolicy) -> None:
    """The conversation: chatbot, question box with its stop button, examples, thumbs and
    comments, kept in the browser across reloads."""
    turns = gr.State([])
    stored = gr.BrowserState([], storage_key=STORAGE_KEY)
    feedback_id = gr.State(None)
    chatbot = gr.Chatbot(
        label="Conversation",
        show_label=False,
        height="60vh",
        buttons=[],  # Gradio's copy button copies the Markdown; answers carry their own
        feedback_options=("Like", "Dislike"),
        placeholder="Ask about export rules, tariffs, financing programmes or who to contact.",
        examples=[{"text": example} for example in EXAMPLES],
        elem_id="chat",
    )
    with gr.Row(elem_id="question-row"):
        textbox = gr.Textbox(
            placeholder="Ask about the documents…",
            show_label=False,
            scale=8,
            autofocus=True,
            submit_btn=True,
            elem_id="question",
        )
        new_chat = gr.Button("New chat", scale=1, min_width=90, variant="secondary", elem_id="new-chat")
    with gr.Row(visible=False, elem_id="feedback-comment") as comment_row:
        comment = gr.Textbox(placeholder="What was wrong or right? (optional)", show_label=False, scale=8)
        send_comment = gr.Button("Send comment", scale=1)

    def on_typed(text: str, state: list[Turn]) -> tuple[str, int, Any]:
        return text, len(state), gr.update(value="", submit_btn=False, stop_btn=True)

    def on_example(selection: gr.SelectData, state: list[Turn]) -> tuple[str, int, Any]:
        return on_typed(selection.value["text"], state)

    def on_stop(state: list[Turn], question: str, turns_before: int) -> tuple[Any, ...]:
        stopped = stopped_turns(state, question, turns_before)
        return chat_messages(stopped), stopped, stopped[-MAX_STORED_TURNS:], on_answered()

    def on_question(message, state, request: gr.Request):
        yield from respond(assistant, message, state, question_refusal(policy, request))

    def on_answered() -> Any:
        return gr.update(submit_btn=True, stop_btn=False)

    def on_like(data: gr.LikeData, state, request: gr.Request):
        if data.liked is None:  # the thumb was taken back
            return None, gr.update(visible=False)
        refusal = question_refusal(policy, request)  # each thumb stores a row, as /api/feedback
        if refusal:
            gr.Warning(refusal)
            return None, gr.update(visible=False)
        index = data.index if isinstance(data.index, int) else data.index[0]
        stored_id = record_feedback(assistant, state, index, bool(data.liked))
        return stored_id, gr.update(visible=stored_id is not None)

    def on_comment(text, stored_id):
        if stored_id is not None and text.strip():
            set_feedback_comment(assistant.settings, stored_id, text.strip())
        return "", gr.update(visible=False)

    # A question (typed, or an example picked) moves from the box into `asked`, the box
    # offers Stop instead of Send while the answer streams, and Send again afterwards. The
    # steps run one after another: Gradio holds back an event whose outputs another is using.
    asked = gr.State("")
    turns_before = gr.State(0)  # how many turns the conversation had when it was asked
    answering: list[Any] = []  # Dependency objects; Gradio types `cancels` as dicts
    took = [asked, turns_before, textbox]
    for picked in (
        textbox.submit(on_typed, [textbox, turns], took, queue=False, show_progress="hidden"),
        chatbot.example_select(on_example, [turns], took, queue=False, show_progress="hidden"),
    ):
        answer = picked.then(on_question, [asked, turns], [chatbot, turns, stored])
        # after the answer, or its stop
        answer.then(on_answered, None, [textbox], queue=False, show_progress="hidden")
        answering.append(answer)
    # Stopping keeps the question in the conversation, marked as stopped (see `respond`).
    # Send comes back at once: a stopped answer's last step may take a while to finish.
    textbox.stop(
        on_stop,
        [turns, asked, turns_before],
        [chatbot, turns, stored, textbox],
        cancels=answering,
        queue=False,
        show_progress="hidden",
    )
    chatbot.like(on_like, [turns], [feedback_id, comment_row])
    send_comment.click(on_comment, [comment, feedback_id], [comment, comment_row])
    # Gradio's trash icon and "New chat" both start over: nothing of the old conversation
    # is left to answer follow-ups from or to attach feedback to.
    gr.on(
        [new_chat.click, chatbot.clear],
        lambda: ([], [], None, "", gr.update(visible=False), []),
        None,
        [chatbot, turns, feedback_id, comment, comment_row, stored],
        cancels=answering,
        queue=False,
    )
    page = Context.root_block
    if page is None:
        raise RuntimeError("build_chat must be called inside a gr.Blocks context")
    page.load(
        lambda kept: (chat_messages(restored := restored_turns(kept)), restored),
        [stored],
        [chatbot, turns],
        queue=False,
    )


# Makes the chat's own controls inside answers work (the HTML comes from format_answer):
# a citation `[n]` (value n) opens the answer's sources and scrolls to source n; "Copy"
# copies the plain text in its value. One listener on the document, because Gradio
# renders messages as they stream.
CHAT_SCRIPT = """<script>
document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target : null;
  const cite = target && target.closest("button.mia-cite");
  const copy = target && target.closest("button.mia-copy");
  if (cite) showSource(cite);
  if (copy) copyAnswer(copy);
});
function showSource(cite) {
  let answer = cite.parentElement;
  while (answer && !answer.querySelector("details.mia-sources")) answer = answer.parentElement;
  const source = /^[0-9]+$/.test(cite.value) && answer && answer.querySelector(".mia-source-" + cite.value);
  if (!source) return;
  source.closest("details").open = true;
  source.scrollIntoView({block: "start"});
  source.focus({preventScroll: true});
}
async function copyAnswer(button) {
  const text = button.value;
  try {
    if (navigator.clipboard) await navigator.clipboard.writeText(text);
    else {  // pages served over plain HTTP to another host have no clipboard API
      const area = document.createElement("textarea");
      area.value = text;
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.append(area);
      area.select();
      const copied = document.execCommand("copy");
      area.remove();
      if (!copied) throw new Error("copy refused");
    }
    button.textContent = "Copied";
  } catch (error) {
    button.textContent = "Copy failed";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
}
</script>"""


def mount_ui(app: FastAPI, assistant: Assistant, staff: bool = False) -> FastAPI:
    """Mount the chat at `/` of an app made by `create_app`, under that app's access policy,
    with a system-font theme (no web fonts fetched) and no footer. The server calls this
    through `assistant.server.api.with_chat`, which first routes unknown API paths."""
    policy = getattr(app.state, "policy", None)
    if not isinstance(policy, AccessPolicy):
        raise ValueError(
            "mount_ui needs an app made by assistant.server.api.create_app (it holds the access policy)"
        )
    theme = gr.themes.Soft(
        font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )
    css = resources.files("assistant").joinpath("ui.css").read_text(encoding="utf-8")
    app = gr.mount_gradio_app(
        app,
        build_ui(assistant, policy, staff),
        path="/",
        footer_links=[],
        theme=theme,
        css=css,
        head=CHAT_SCRIPT,
    )
    chat_mounts = [route for route in app.router.routes if isinstance(route, Mount) and route.path == ""]
    if len(chat_mounts) != 1:
        raise RuntimeError(f"expected the chat mounted once at /, found {len(chat_mounts)} mounts")
    chat_mounts[0].app = ChatAccessMiddleware(chat_mounts[0].app, policy)
    return app
