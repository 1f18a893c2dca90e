// The organization's live events (`GET /api/v1/events`, Server-Sent Events) for every view at once.
// EventSource reconnects by itself and sends `Last-Event-ID`; when it gives up (the access token in
// its URL expired, the engine restarted) the stream is reopened here with a fresh token and
// `last_event_id`, so nothing between is missed (a `stream.gap` says when the engine could not
// replay everything; views then reload what they show).

import { accessToken } from "./api.js";

const KINDS = [
  "call.created", "call.started", "call.answered", "call.ended", "call.barge_in",
  "call.ai_reconnected", "call.ai_unavailable", "call.supervisor_action", "call.updated",
  "message.created", "message.updated", "message.deleted", "conversation.analyzed",
  "stream.gap", "stream.cut_off",
];

export class LiveEvents {
  constructor(statusNode) {
    this.status = statusNode;
    this.listeners = new Set();
    this.lastId = null;
    this.source = null;
    this.stopped = false;
    this.retry = 1000;
  }

  /** `fn(kind, event)` for every event (and `("reset")` when views should reload); returns the
   *  function that unsubscribes. */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async start() {
    if (this.stopped) return;
    let token;
    try {
      token = await accessToken();
    } catch {
      return; // signed out
    }
    const params = new URLSearchParams({ access_token: token });
    if (this.lastId !== null) params.set("last_event_id", this.lastId);
    const source = new EventSource(`/api/v1/events?${params}`);
    this.source = source;
    source.onopen = () => {
      this.retry = 1000;
      this.show("live", "Live");
      this.emit("reset", null);
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED && !this.stopped) {
        this.show("down", "Reconnecting…");
        setTimeout(() => this.start(), this.retry);
        this.retry = Math.min(this.retry * 2, 15000);
      } else if (!this.stopped) {
        this.show("down", "Reconnecting…");
      }
    };
    for (const kind of KINDS) {
      source.addEventListener(kind, (message) => {
        if (message.lastEventId) this.lastId = message.lastEventId;
        let event = null;
        try {
          event = JSON.parse(message.data);
        } catch {
          return;
        }
        if (kind === "stream.gap" || kind === "stream.cut_off") {
          this.emit("reset", event);
          if (kind === "stream.cut_off") {
            source.close();
            this.start();
          }
          return;
        }
        this.emit(kind, event);
      });
    }
  }

  stop() {
    this.stopped = true;
    this.source?.close();
    this.show("", "");
  }

  emit(kind, event) {
    for (const fn of this.listeners) {
      try {
        fn(kind, event);
      } catch (err) {
        console.error(err);
      }
    }
  }

  show(state, text) {
    this.status.dataset.state = state;
    this.status.textContent = text;
  }
}
