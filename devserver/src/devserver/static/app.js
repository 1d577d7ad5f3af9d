// The dev server's demo page: reads the simulated world through /_sim/world and /_sim/chat, and acts as
// its users through /_sim/text, /_sim/edit, /_sim/file and /_sim/press (../web.py). No framework: the page is rebuilt from the
// server's state whenever that state (or what the visitor chose to look at) changes.
"use strict";

const POLL_MS = 700;
const state = {
  world: null,
  parentId: null,
  actor: {}, // chat id -> the staff member acting there
  topic: {}, // forum chat id -> the topic shown (0: General); unset follows the newest topic
  replyTo: {}, // chat id -> message id the next text replies to
  editing: {}, // chat id -> the user's own message id the next text replaces
  logs: {}, // chat id -> {messages, pinned}
  drawn: {}, // chat id -> what was drawn last (to redraw only on change)
};

// ---- talking to the server -------------------------------------------------------------------------

async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  const body = await response.json();
  if (!body.ok) throw new Error(body.description);
  return body.result;
}

async function postJson(url, payload) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  });
  const body = await response.json();
  if (!body.ok) throw new Error(body.description);
  return body.result;
}

// `threadId`: the forum topic shown (0 or none: General); a reply goes to the replied message's topic.
async function sendText(chatId, userId, text, threadId) {
  const payload = { chat_id: chatId, user_id: userId, text };
  if (state.replyTo[chatId]) payload.reply_to = state.replyTo[chatId];
  else if (threadId) payload.thread_id = threadId;
  await postJson("/_sim/text", payload);
  delete state.replyTo[chatId];
  await refresh();
}

// A PNG or JPEG arrives as a photo, any other file as a document (as a Telegram client sends them).
async function sendFile(chatId, userId, file, caption) {
  const form = new FormData();
  form.append("chat_id", chatId);
  form.append("user_id", userId);
  if (caption) form.append("caption", caption);
  form.append("file", file, file.name);
  const response = await fetch("/_sim/file", { method: "POST", body: form });
  const body = await response.json();
  if (!body.ok) throw new Error(body.description);
  await refresh();
}

async function editText(chatId, userId, messageId, text) {
  await postJson("/_sim/edit", { chat_id: chatId, user_id: userId, message_id: messageId, text });
  delete state.editing[chatId];
  await refresh();
}

async function press(chatId, userId, messageId, data) {
  const query = await postJson("/_sim/press", {
    chat_id: chatId, user_id: userId, message_id: messageId, callback_data: data,
  });
  for (let tries = 0; tries < 40; tries++) {
    const answer = await getJson(`/_sim/answer?query_id=${encodeURIComponent(query.id)}`);
    if (answer) {
      if (answer.text) toast(answer.text);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await refresh();
}

// ---- formatted text ----------------------------------------------------------------------------------

const TAGS = {
  bold: "b", italic: "i", underline: "u", strikethrough: "s", code: "code", pre: "pre",
  blockquote: "blockquote", expandable_blockquote: "blockquote",
};

function safeHref(url) {
  return /^(https?:|mailto:|tel:|tg:)/i.test(url) ? url : null;
}

function entityElement(entity, inner, onCommand) {
  const href = {
    text_link: entity.url, url: /^[a-z]+:/i.test(inner) ? inner : `https://${inner}`,
    email: `mailto:${inner}`, phone_number: `tel:${inner}`,
  }[entity.type];
  if (href !== undefined && safeHref(href)) {
    const link = document.createElement("a");
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    return link;
  }
  if (entity.type === "bot_command" && onCommand) {
    const command = document.createElement("a");
    command.href = "#";
    command.className = "command";
    command.addEventListener("click", (event) => { event.preventDefault(); onCommand(inner); });
    return command;
  }
  const element = document.createElement(TAGS[entity.type] || "span");
  element.className = `entity-${entity.type}`;
  return element;
}

// Entity offsets are in UTF-16 code units, as JavaScript strings count: slices line up with them.
function formatted(text, entities, onCommand) {
  const sorted = [...(entities || [])].sort((a, b) => a.offset - b.offset || b.length - a.length);
  return buildRange(text, sorted, 0, text.length, onCommand);
}

function buildRange(text, entities, start, end, onCommand) {
  const fragment = document.createDocumentFragment();
  let pos = start;
  let i = 0;
  while (i < entities.length) {
    const entity = entities[i];
    const stop = entity.offset + entity.length;
    let j = i + 1;
    while (j < entities.length && entities[j].offset < stop) j++; // the entities inside this one
    const from = Math.max(entity.offset, pos);
    const to = Math.min(stop, end);
    if (to > from) {
      if (from > pos) fragment.append(text.slice(pos, from));
      const element = entityElement(entity, text.slice(from, to), onCommand);
      element.append(buildRange(text, entities.slice(i + 1, j), from, to, onCommand));
      fragment.append(element);
      pos = to;
    }
    i = j;
  }
  if (pos < end) fragment.append(text.slice(pos, end));
  return fragment;
}

// ---- drawing messages --------------------------------------------------------------------------------

function el(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

function senderName(message) {
  const from = message.from || {};
  return [from.first_name, from.last_name].filter(Boolean).join(" ") || "Someone";
}

function snippet(message) {
  if (message.text) return message.text.split("\n").find((line) => line.trim()) || message.text;
  if (message.photo) return `Photo${message.caption ? ": " + message.caption : ""}`;
  if (message.document) return `File: ${message.document.file_name || "file"}`;
  return "Message";
}

function serviceText(message) {
  if (message.forum_topic_created) return `Topic created: ${message.forum_topic_created.name}`;
  if (message.forum_topic_edited) return `Topic renamed: ${message.forum_topic_edited.name || ""}`;
  if (message.forum_topic_closed) return "Topic closed";
  if (message.forum_topic_reopened) return "Topic reopened";
  if (message.new_chat_members) return `${message.new_chat_members.map((u) => u.first_name).join(", ")} joined`;
  if (message.left_chat_member) return `${message.left_chat_member.first_name} left`;
  if (message.migrate_to_chat_id || message.migrate_from_chat_id) return "The group became a supergroup";
  return null;
}

function timeOf(message) {
  return new Date(message.date * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// One message as a Telegram client shows it. `view`: {chatId, me (the acting user), showNames, pinned}.
function drawMessage(message, view) {
  const service = serviceText(message);
  if (service) return el("div", "service", service);
  const mine = message.from && message.from.id === view.me;
  const bubble = el("div", `msg ${mine ? "out" : "in"}${message.from && message.from.is_bot ? " bot" : ""}`);
  bubble.dataset.messageId = message.message_id;
  if (view.showNames && !mine) bubble.append(el("div", "sender", senderName(message)));
  const replied = message.reply_to_message;
  if (replied && !replied.forum_topic_created) {
    const quote = el("div", "quote");
    quote.append(el("div", "quote-name", senderName(replied)), el("div", "quote-text", snippet(replied)));
    bubble.append(quote);
  }
  if (message.photo) {
    const largest = message.photo[message.photo.length - 1];
    const image = el("img", "photo");
    image.src = `/_sim/file/${encodeURIComponent(largest.file_id)}`;
    image.alt = "photo";
    bubble.append(image);
  }
  if (message.document) {
    const link = el("a", "document", `↓ ${message.document.file_name || "file"}`);
    link.href = `/_sim/file/${encodeURIComponent(message.document.file_id)}`;
    link.download = message.document.file_name || "file";
    bubble.append(link);
  }
  const onCommand = (command) => view.send(command);
  if (message.text) {
    const text = el("div", "text");
    text.append(formatted(message.text, message.entities, onCommand));
    bubble.append(text);
  } else if (message.caption) {
    const caption = el("div", "text");
    caption.append(formatted(message.caption, message.caption_entities, onCommand));
    bubble.append(caption);
  } else if (!message.photo && !message.document) {
    bubble.append(el("div", "text other", "(a message this page does not show)"));
  }
  bubble.append(drawKeyboard(message, view));
  bubble.append(drawMeta(message, view));
  return bubble;
}

function drawKeyboard(message, view) {
  const keyboard = el("div", "keyboard");
  for (const row of (message.reply_markup || {}).inline_keyboard || []) {
    const line = el("div", "row");
    for (const button of row) {
      if (button.url && safeHref(button.url)) {
        const link = el("a", "button", `${button.text} ↗`);
        link.href = button.url;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        line.append(link);
      } else if (button.callback_data) {
        const tap = el("button", "button", button.text);
        tap.type = "button";
        tap.addEventListener("click", () => {
          tap.disabled = true;
          press(view.chatId, view.me, message.message_id, button.callback_data).catch(showError);
        });
        line.append(tap);
      } else {
        line.append(el("span", "button inert", button.text));
      }
    }
    keyboard.append(line);
  }
  return keyboard;
}

function drawMeta(message, view) {
  const meta = el("div", "meta");
  if (view.pinned.includes(message.message_id)) meta.append(el("span", "pinned", "pinned"));
  if (message.edit_date) meta.append(el("span", "edited", "edited"));
  meta.append(el("span", "time", timeOf(message)));
  // Replying and editing are exclusive: the composer does one or the other with the next text.
  meta.append(actionLink("↩ Reply", "Reply to this message", () => {
    delete state.editing[view.chatId];
    state.replyTo[view.chatId] = message.message_id;
  }));
  if (message.text && message.from && message.from.id === view.me) {
    meta.append(actionLink("Edit", "Edit this message", () => {
      delete state.replyTo[view.chatId];
      state.editing[view.chatId] = message.message_id;
    }));
  }
  return meta;
}

function actionLink(label, title, choose) {
  const link = el("a", "reply-link", label);
  link.href = "#";
  link.title = title;
  link.addEventListener("click", (event) => {
    event.preventDefault();
    choose();
    draw(true);
  });
  return link;
}

function drawMessages(container, messages, view) {
  const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 60;
  container.replaceChildren(...messages.map((m) => drawMessage(m, view)));
  if (!messages.length) container.append(el("div", "service", "No messages yet"));
  if (atBottom || !container.dataset.scrolled) container.scrollTop = container.scrollHeight;
  container.dataset.scrolled = "1";
}

// ---- composers -------------------------------------------------------------------------------------

// Rebuilt only when what it sends changes (who, where, replying to what): typing is never disturbed.
function drawComposer(form, chatId, userId, { photos, commands, messages, threadId }) {
  const editing = state.editing[chatId] && messages.find((m) => m.message_id === state.editing[chatId]);
  const key = JSON.stringify([chatId, userId, state.replyTo[chatId] || null, editing ? editing.message_id : null, threadId || 0]);
  if (form.dataset.key === key) return;
  form.dataset.key = key;
  form.dataset.userId = userId;
  const previous = form.querySelector("input[type=text]");
  const typed = previous ? previous.value : "";
  const hadFocus = previous && document.activeElement === previous;
  form.replaceChildren();
  const target = state.replyTo[chatId] && messages.find((m) => m.message_id === state.replyTo[chatId]);
  if (target) {
    form.append(cancellable(`↩ Replying to ${senderName(target)}: ${snippet(target).slice(0, 80)}`, () => {
      delete state.replyTo[chatId];
    }));
  }
  if (editing) {
    form.append(cancellable(`Editing: ${snippet(editing).slice(0, 80)}`, () => {
      delete state.editing[chatId];
    }));
  }
  if (commands) {
    const chips = el("div", "chips");
    for (const command of commands) {
      const chip = el("button", "chip", command);
      chip.type = "button";
      chip.addEventListener("click", () => {
        input.value = command === "/reply" ? "/reply " : command;
        input.focus();
      });
      chips.append(chip);
    }
    form.append(chips);
  }
  const line = el("div", "line");
  const input = el("input", "");
  input.type = "text";
  input.placeholder = "Write a message…";
  input.value = editing && !typed ? editing.text : typed;
  input.setAttribute("aria-label", "Message");
  if (photos) {
    const attach = el("label", "attach", "Attach");
    attach.title = "Send a photo (PNG or JPEG) or any other file";
    const file = el("input", "");
    file.type = "file";
    file.setAttribute("aria-label", "Attach a photo or file");
    file.addEventListener("change", () => {
      if (!file.files.length) return;
      const caption = input.value.trim();
      const chosen = file.files[0];
      input.value = "";
      file.value = ""; // the same file may be sent again
      sendFile(chatId, userId, chosen, caption).catch(showError);
    });
    attach.append(file);
    line.append(attach);
  }
  const send = el("button", "send", "Send");
  send.type = "submit";
  line.append(input, send);
  form.append(line);
  form.onsubmit = (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    const sent = editing
      ? editText(chatId, userId, editing.message_id, text)
      : sendText(chatId, userId, text, threadId);
    sent.catch(showError);
  };
  if (hadFocus) input.focus();
}

// What the next text does (reply, edit), with × to cancel it.
function cancellable(text, cancel) {
  const bar = el("div", "replying");
  bar.append(el("span", "", text));
  const button = el("button", "cancel", "×");
  button.type = "button";
  button.title = "Cancel";
  button.addEventListener("click", () => { cancel(); draw(true); });
  bar.append(button);
  return bar;
}

// ---- the panels ----------------------------------------------------------------------------------------

function drawPhone(force) {
  const world = state.world;
  // Parents first; staff members have private chats with the bot too (case details, /start staff).
  const parents = world.users.filter((u) => !u.in_groups);
  const staff = world.users.filter((u) => u.in_groups);
  const people = [...parents, ...staff];
  if (!people.length) return;
  if (!people.some((p) => p.id === state.parentId)) state.parentId = people[0].id;
  const select = document.getElementById("parent-select");
  if (select.options.length !== people.length) {
    const groups = [["Parents", parents], ["Staff, privately", staff]].map(([label, users]) => {
      const group = document.createElement("optgroup");
      group.label = label;
      group.append(...users.map((u) => new Option(u.name, u.id)));
      return group;
    });
    select.replaceChildren(...groups.filter((g) => g.children.length));
    select.onchange = () => {
      state.parentId = Number(select.value);
      draw(true); // at once: what is typed or attached next is this parent's
      refresh().catch(showError);
    };
  }
  select.value = String(state.parentId);
  const chatId = state.parentId;
  const log = state.logs[chatId] || { messages: [], pinned: [] };
  const key = JSON.stringify([log, state.replyTo[chatId], state.editing[chatId]]);
  if (!force && state.drawn.phone === `${chatId}:${key}`) return;
  state.drawn.phone = `${chatId}:${key}`;
  document.getElementById("phone-title").textContent = `${world.bot.name} · @${world.bot.username}`;
  const send = (text) => sendText(chatId, chatId, text).catch(showError);
  const view = { chatId, me: chatId, showNames: false, pinned: log.pinned, send };
  const container = document.getElementById("phone-messages");
  drawMessages(container, log.messages, view);
  drawComposer(document.getElementById("phone-composer"), chatId, chatId, {
    photos: true, messages: log.messages,
  });
}

function groupPanel(group) {
  let panel = document.querySelector(`section[data-chat-id="${group.id}"]`);
  if (panel) return panel;
  panel = el("section", `panel group${group.is_forum ? " forum" : ""}`);
  panel.dataset.chatId = group.id;
  panel.dataset.testid = "group";
  panel.setAttribute("aria-label", group.title);
  const head = el("div", "panel-head");
  const title = el("div", "title");
  title.append(el("span", "", group.title), el("span", "badge", group.is_forum ? "forum with topics" : "group"));
  const actor = el("label", "actor", "Acting as ");
  actor.append(el("select", "staff-select"));
  head.append(title, actor);
  const body = el("div", "body");
  if (group.is_forum) body.append(el("nav", "topics"));
  const column = el("div", "column");
  column.append(el("div", "pinned-bar"), el("div", "messages"), el("form", "composer"));
  body.append(column);
  panel.append(head, body);
  document.getElementById("groups").append(panel);
  return panel;
}

function drawGroup(group, force) {
  const panel = groupPanel(group);
  const members = group.members;
  if (!members.some((m) => m.id === state.actor[group.id]) && members.length) {
    state.actor[group.id] = members[0].id;
  }
  const select = panel.querySelector(".staff-select");
  if (select.options.length !== members.length) {
    select.replaceChildren(...members.map((m) => new Option(m.name, m.id)));
    select.onchange = () => { state.actor[group.id] = Number(select.value); draw(true); };
  }
  select.value = String(state.actor[group.id]);
  const log = state.logs[group.id] || { messages: [], pinned: [] };
  const topics = group.topics;
  const shown = group.is_forum ? shownTopic(group) : 0;
  const key = JSON.stringify([log, topics, shown, state.actor[group.id], state.replyTo[group.id], state.editing[group.id]]);
  if (!force && state.drawn[group.id] === key) return;
  state.drawn[group.id] = key;
  const me = state.actor[group.id];
  const send = (text) => sendText(group.id, me, text, shown).catch(showError);
  const view = { chatId: group.id, me, showNames: true, pinned: log.pinned, send };
  let messages = log.messages;
  if (group.is_forum) {
    drawTopics(panel.querySelector(".topics"), group, log.messages, shown);
    messages = messages.filter((m) => (m.message_thread_id || 0) === shown);
  }
  drawPinned(panel.querySelector(".pinned-bar"), log);
  drawMessages(panel.querySelector(".messages"), messages, view);
  drawComposer(panel.querySelector(".composer"), group.id, me, {
    photos: false, commands: ["/cases", "/stats", "/reply"], messages: log.messages, threadId: shown,
  });
}

function shownTopic(group) {
  const chosen = state.topic[group.id];
  if (chosen !== undefined) return chosen;
  const newest = group.topics[group.topics.length - 1];
  return newest ? newest.message_thread_id : 0;
}

function drawTopics(nav, group, messages, shown) {
  const entries = [{ message_thread_id: 0, name: "General" }, ...group.topics];
  nav.replaceChildren(el("div", "topics-head", "Topics"));
  for (const topic of entries) {
    const count = messages.filter((m) => (m.message_thread_id || 0) === topic.message_thread_id).length;
    const item = el("button", `topic${topic.message_thread_id === shown ? " active" : ""}`);
    item.type = "button";
    item.append(el("span", "topic-name", `# ${topic.name}${topic.closed ? " (closed)" : ""}`));
    item.append(el("span", "topic-count", String(count)));
    item.addEventListener("click", () => {
      state.topic[group.id] = topic.message_thread_id;
      delete state.replyTo[group.id];
      draw(true);
    });
    nav.append(item);
  }
}

function drawPinned(bar, log) {
  const last = log.pinned[log.pinned.length - 1];
  const message = last && log.messages.find((m) => m.message_id === last);
  bar.hidden = !message;
  if (message) bar.textContent = `Pinned: ${snippet(message).slice(0, 90)}`;
}

function draw(force = false) {
  if (!state.world) return;
  drawPhone(force);
  for (const group of state.world.groups) drawGroup(group, force);
}

// ---- polling, toasts, errors -------------------------------------------------------------------------

async function refresh() {
  const world = await getJson("/_sim/world");
  state.world = world;
  const parentId = state.parentId || (world.users.find((u) => !u.in_groups) || {}).id;
  const chats = [parentId, ...world.groups.map((g) => g.id)].filter((id) => id !== undefined);
  const logs = await Promise.all(chats.map((id) => getJson(`/_sim/chat?chat_id=${id}`)));
  chats.forEach((id, index) => { state.logs[id] = logs[index]; });
  draw();
}

function toast(text) {
  const box = document.getElementById("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

function showError(error) {
  toast(`Not sent: ${error.message}`);
}

async function poll() {
  const status = document.getElementById("status");
  try {
    await refresh();
    status.textContent = "live";
    status.className = "status live";
  } catch (error) {
    status.textContent = "server not reachable";
    status.className = "status down";
  }
  setTimeout(poll, POLL_MS);
}

poll();
