// The chat panel: one conversation shown at a time, messages acknowledged by the server,
// unacknowledged ones resent after a reconnect, missed ones replayed by sequence number.
// "@Name" in a message mentions that person; direct messages and mentions of me reach me
// through the notifier while the tab is in the background (static/notify.js).
import { mentionsIn } from "/static/notify.js";
import { el, EventError, showToast } from "/static/realtime.js";

export class ChatPanel {
  // notifier: a Notifier (static/notify.js); people(): who may be mentioned ({user_id, display_name}).
  constructor(socket, meId, { notifier = null, people = () => [] } = {}) {
    this.socket = socket;
    this.meId = meId;
    this.notifier = notifier;
    this.people = people;
    this.discovering = null;
    this.conversations = new Map(); // id -> {info, messages: Map(seq -> msg), lastSeq, label}
    this.current = null;
    this.pending = new Map(); // client_id -> {conversation_id, body}
    this.typingTimer = null;
    this.list = document.getElementById("messages");
    this.input = document.getElementById("chat-input");
    this.sendButton = document.getElementById("chat-send");
    this.tabs = document.getElementById("chat-tabs");
    this.typingLine = document.getElementById("typing");
    this.loadingOlder = false;
    // Scrolling to the top of a conversation pages back through its history.
    this.list.addEventListener("scroll", () => { if (this.list.scrollTop < 40) this.loadOlder(); });
    document.getElementById("chat-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.send();
    });
    this.input.addEventListener("input", () => this.typing());
    socket.on("chat:message", (m) => this.receive(m));
    socket.on("chat:updated", (m) => this.receive(m, true));
    socket.on("chat:mention", (m) => this.mentioned(m));
    socket.on("chat:typing", (t) => this.showTyping(t));
  }

  // A direct or group conversation is named by the others in it.
  labelOf(conversation) {
    const others = conversation.members.filter((m) => m.user_id !== this.meId).map((m) => m.display_name);
    return others.join(", ") || "Conversation";
  }

  add(info, label, messages = []) {
    let entry = this.conversations.get(info.id);
    if (!entry) {
      entry = { info, label, messages: new Map(), lastSeq: 0, unread: info.unread || 0, hasMore: true };
      this.conversations.set(info.id, entry);
    }
    entry.label = label;
    if (messages.length) entry.hasMore = messages.length >= 50; // chat:room gives the last 50
    for (const m of messages) this.store(entry, m);
    this.renderTabs();
    return entry;
  }

  remove(id) {
    this.conversations.delete(id);
    if (this.current === id) this.current = null;
    this.renderTabs();
    this.render();
  }

  store(entry, message) {
    entry.messages.set(message.seq, message);
    entry.lastSeq = Math.max(entry.lastSeq, message.seq);
  }

  async show(id) {
    this.current = id;
    const entry = this.conversations.get(id);
    entry.unread = 0;
    this.input.disabled = false;
    this.sendButton.disabled = false;
    this.input.placeholder = `Message ${entry.label}`;
    this.renderTabs();
    this.render();
    if (entry.messages.size === 0) await this.loadOlder();
    if (entry.lastSeq) {
      try { await this.socket.call("chat:read", { conversation_id: id, seq: entry.lastSeq }); }
      catch { /* read markers are best effort */ }
    }
  }

  disable(text) {
    this.current = null;
    this.input.disabled = true;
    this.sendButton.disabled = true;
    this.input.placeholder = text;
    this.render();
  }

  receive(message, updated = false) {
    const entry = this.conversations.get(message.conversation_id);
    if (!entry) {
      if (!updated) this.discover(message);
      return;
    }
    if (!updated && message.sender_id !== this.meId && entry.info.kind !== "room" && !entry.messages.has(message.seq)) {
      this.notifier?.directMessage(message, entry.label, () => this.show(entry.info.id));
    }
    this.store(entry, message);
    for (const [clientId] of this.pending) {
      if (clientId === message.client_id && message.sender_id === this.meId) this.pending.delete(clientId);
    }
    if (this.current === message.conversation_id) {
      this.render();
      if (!updated) this.socket.call("chat:read", { conversation_id: message.conversation_id, seq: message.seq }).catch(() => {});
    } else if (!updated) {
      entry.unread += 1;
      this.renderTabs();
    }
  }

  // A message in a conversation this tab does not know yet (someone just wrote to me for the
  // first time): the list of my conversations has it now.
  async discover(message) {
    this.discovering ??= this.socket.call("chat:list").finally(() => { this.discovering = null; });
    let listed;
    try { listed = await this.discovering; } catch { return; }
    if (!this.conversations.has(message.conversation_id)) {
      const info = listed.conversations.find((c) => c.id === message.conversation_id);
      if (!info) return;
      this.add({ ...info, unread: 0 }, this.labelOf(info));
    }
    this.receive(message);
  }

  mentioned(message) {
    showToast(`${message.sender_name} mentioned you`);
    const entry = this.conversations.get(message.conversation_id);
    const label = entry?.label || "a conversation";
    this.notifier?.mention(message, label, entry ? () => this.show(entry.info.id) : null);
  }

  async send() {
    const body = this.input.value;
    if (!body.trim() || this.current === null) return;
    const clientId = crypto.randomUUID();
    this.pending.set(clientId, { conversation_id: this.current, body });
    this.input.value = "";
    this.render();
    await this.deliver(clientId);
  }

  async deliver(clientId) {
    const item = this.pending.get(clientId);
    if (!item) return;
    try {
      const mentions = mentionsIn(item.body, this.people(), this.meId);
      const ack = await this.socket.call("chat:send", { conversation_id: item.conversation_id, client_id: clientId, body: item.body, mentions });
      this.pending.delete(clientId);
      this.receive(ack.message);
      this.render();
    } catch (error) {
      if (error instanceof EventError) {
        if (error.code !== "unavailable" && error.code !== "rate_limited") this.pending.delete(clientId);
        showToast(error.message);
        this.render();
      } // a time-out keeps it pending: it is sent again after reconnecting
    }
  }

  async resync() {
    // After a reconnect: what was missed, then what was never acknowledged.
    const cursors = [...this.conversations.values()].map((e) => ({ conversation_id: e.info.id, after_seq: e.lastSeq }));
    if (cursors.length) {
      try {
        const { conversations } = await this.socket.call("chat:sync", { cursors });
        for (const c of conversations) {
          const entry = this.conversations.get(c.conversation_id);
          if (!entry || c.error) continue;
          if (c.resync) {
            const page = await this.socket.call("chat:history", { conversation_id: c.conversation_id, limit: 100 });
            entry.messages.clear();
            page.messages.forEach((m) => this.store(entry, m));
          } else c.messages.forEach((m) => this.store(entry, m));
        }
      } catch { /* shown on the next event */ }
    }
    for (const clientId of [...this.pending.keys()]) await this.deliver(clientId);
    this.render();
  }

  async loadOlder() {
    const entry = this.conversations.get(this.current);
    if (!entry || !entry.hasMore || this.loadingOlder) return;
    this.loadingOlder = true;
    try {
      const seqs = [...entry.messages.keys()];
      const payload = { conversation_id: entry.info.id, limit: 50 };
      if (seqs.length) payload.before_seq = Math.min(...seqs);
      const page = await this.socket.call("chat:history", payload);
      page.messages.forEach((m) => this.store(entry, m));
      entry.hasMore = page.has_more;
      if (entry.info.id === this.current) {
        // Keep what the reader was looking at in place while older messages appear above.
        const fromBottom = this.list.scrollHeight - this.list.scrollTop;
        this.render(false);
        this.list.scrollTop = this.list.scrollHeight - fromBottom;
      }
    } catch (error) {
      showToast(error.message);
    } finally {
      this.loadingOlder = false;
    }
  }

  async typing() {
    if (this.current === null || this.typingTimer) return;
    this.typingTimer = setTimeout(() => { this.typingTimer = null; }, 2100);
    this.socket.call("chat:typing", { conversation_id: this.current }).catch(() => {});
  }

  showTyping(event) {
    if (event.conversation_id !== this.current) return;
    this.typingLine.textContent = `${event.display_name} is typing…`;
    clearTimeout(this.typingClear);
    this.typingClear = setTimeout(() => { this.typingLine.textContent = ""; }, 3000);
  }

  renderTabs() {
    this.tabs.replaceChildren(...[...this.conversations.values()].map((entry) => el(
      "button", { type: "button", role: "tab", "aria-selected": String(entry.info.id === this.current), onclick: () => this.show(entry.info.id) },
      entry.label, entry.unread ? el("span", { class: "badge", "aria-label": `${entry.unread} unread` }, entry.unread) : null)));
  }

  render(toBottom = true) {
    const entry = this.conversations.get(this.current);
    if (!entry) { this.list.replaceChildren(); return; }
    const items = [...entry.messages.values()].sort((a, b) => a.seq - b.seq).map((m) => this.item(m));
    if (entry.hasMore && entry.messages.size) {
      items.unshift(el("li", { class: "older" }, el("button", { type: "button", class: "secondary", onclick: () => this.loadOlder() }, "Load earlier messages")));
    }
    for (const [, p] of this.pending) {
      if (p.conversation_id === this.current) items.push(el("li", { class: "pending" }, el("span", { class: "who" }, "You"), el("span", { class: "body" }, p.body), " (sending…)"));
    }
    this.list.replaceChildren(...items);
    if (toBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  item(m) {
    const when = new Date(m.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const mine = m.sender_id === this.meId && !m.deleted;
    const actions = mine ? el("span", { class: "actions" },
      el("button", { type: "button", class: "secondary", "aria-label": "Edit message", onclick: () => this.edit(m) }, "edit"),
      el("button", { type: "button", class: "secondary", "aria-label": "Delete message", onclick: () => this.delete(m) }, "delete")) : null;
    return el("li", { "data-seq": m.seq },
      el("span", { class: "who" }, m.sender_name), el("span", { class: "when" }, when), actions,
      m.deleted ? el("div", { class: "deleted" }, "message deleted")
        : el("div", { class: "body" }, m.body, m.edited_at ? el("span", { class: "when" }, " (edited)") : null));
  }

  async edit(m) {
    const body = prompt("Edit message", m.body);
    if (body === null || body === m.body) return;
    try { this.receive((await this.socket.call("chat:edit", { message_id: m.id, body })).message, true); }
    catch (error) { showToast(error.message); }
  }

  async delete(m) {
    try { this.receive((await this.socket.call("chat:delete", { message_id: m.id })).message, true); }
    catch (error) { showToast(error.message); }
  }
}
