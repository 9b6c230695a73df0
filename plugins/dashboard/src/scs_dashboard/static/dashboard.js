// scs dashboard: live messages (server-sent events) and small conveniences.
// No framework, no inline script (the CSP forbids it); text is always set with
// textContent, never parsed as HTML.
"use strict";

(function () {
  function localTime(el) {
    var when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when.getTime())) {
      el.textContent = when.toLocaleString();
      el.title = el.getAttribute("datetime");
    }
  }

  function span(cls, text) {
    var el = document.createElement("span");
    el.className = cls;
    el.textContent = text;
    return el;
  }

  function messageItem(m) {
    var li = document.createElement("li");
    li.className = "msg" + (m.parent_message_id != null ? " reply" : "") + " fresh";
    li.id = "m-" + m.id;
    li.dataset.id = String(m.id);
    var meta = document.createElement("div");
    meta.className = "meta";
    meta.append(span("sender", m.sender), " ", span("type", m.sender_type), " ");
    meta.append(span("badge v-" + m.visibility, m.visibility), " ");
    var time = document.createElement("time");
    time.setAttribute("datetime", m.timestamp);
    time.textContent = m.timestamp;
    localTime(time);
    var id = document.createElement("a");
    id.className = "id";
    id.href = "#m-" + m.id;
    id.textContent = "#" + m.id;
    meta.append(time, " ", id, " ");
    if (m.parent_message_id != null) {
      var parent = document.createElement("a");
      parent.className = "parent";
      parent.href = "#m-" + m.parent_message_id;
      parent.textContent = "\u21b3 reply to #" + m.parent_message_id;
      meta.append(parent);
    }
    var reply = document.createElement("button");
    reply.type = "button";
    reply.className = "reply-to";
    reply.dataset.id = String(m.id);
    reply.textContent = "Reply";
    meta.append(reply);
    var content = document.createElement("div");
    content.className = "content";
    content.textContent = m.content;
    li.append(meta, content);
    if (m.metadata) {
      var details = document.createElement("details");
      details.className = "metadata";
      var summary = document.createElement("summary");
      summary.textContent = "metadata";
      var pre = document.createElement("pre");
      pre.textContent = JSON.stringify(m.metadata, null, 2);
      details.append(summary, pre);
      li.append(details);
    }
    return li;
  }

  function live(list) {
    var status = document.getElementById("live");
    var url = "/ui/stream?session_id=" + encodeURIComponent(list.dataset.session) +
      "&after=" + encodeURIComponent(list.dataset.last || "0");
    var source = new EventSource(url);
    function say(text) { if (status) { status.textContent = text; } }
    source.onopen = function () { say("live"); };
    source.onerror = function () { say("live updates: reconnecting\u2026"); };
    source.addEventListener("message", function (event) {
      var m = JSON.parse(event.data);
      if (document.getElementById("m-" + m.id)) { return; }
      var nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
      list.append(messageItem(m));
      list.dataset.last = String(m.id);
      if (nearBottom) { list.lastElementChild.scrollIntoView({ block: "nearest" }); }
    });
    source.addEventListener("logout", function () {
      source.close();
      window.location.assign("/ui/login");
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest(".reply-to") : null;
    if (!button) { return; }
    var parent = document.getElementById("parent");
    var content = document.getElementById("content");
    if (parent && content) {
      parent.value = button.dataset.id;
      content.focus();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("time[datetime]").forEach(localTime);
    var list = document.getElementById("messages");
    if (list && window.EventSource) { live(list); }
  });
})();
