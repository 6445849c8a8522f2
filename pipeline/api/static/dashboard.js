// restguard dashboard: plain JavaScript over the audit API (no build step).
"use strict";
const COLORS = ["#0052cc", "#00875a", "#ff991f", "#de350b", "#6554c0", "#00b8d9", "#97a0af",
                "#ffc400", "#36b37e", "#ff5630", "#8777d9", "#79e2f2", "#505f79"];
const SCHEMES = ["session-cookie", "basic", "basic-query", "bearer-jwt", "bearer-opaque", "pat",
                 "api-key", "oauth1", "negotiate", "ntlm", "digest", "anonymous", "malformed"];
const $ = (id) => document.getElementById(id);
let streamAbort = null;

function key() { return sessionStorage.getItem("restguard.key") || ""; }
function status(text) { $("status").textContent = text; }
function esc(v) { return String(v ?? "").replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c])); }
function time(v) { return v ? new Date(v).toLocaleString() : ""; }

async function api(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) if (v) url.searchParams.set(k, v);
  const r = await fetch(url, {headers: {"X-API-Key": key()}});
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    throw new Error(`${r.status} ${body.error || r.statusText}${body.detail && typeof body.detail === "string" ? ": " + body.detail : ""}`);
  }
  return r.json();
}

function chart(buckets) {
  const w = Math.max(600, $("schemes-chart").clientWidth || 600), h = 180, pad = 24;
  const max = Math.max(1, ...buckets.map((b) => b.total));
  const bw = (w - pad) / Math.max(1, buckets.length);
  let svg = `<svg width="${w}" height="${h + 20}" role="img" aria-label="schemes over time">`;
  buckets.forEach((b, i) => {
    let y = h;
    SCHEMES.forEach((s, k) => {
      const n = b.schemes[s] || 0;
      if (!n) return;
      const bh = (n / max) * (h - 10);
      y -= bh;
      svg += `<rect x="${pad + i * bw}" y="${y}" width="${Math.max(1, bw - 2)}" height="${bh}" fill="${COLORS[k % COLORS.length]}"><title>${esc(s)}: ${n} (${esc(b.start)})</title></rect>`;
    });
  });
  svg += `<text x="0" y="10" font-size="10">${max}</text><text x="${pad}" y="${h + 14}" font-size="10">${esc(time(buckets[0]?.start))}</text>`;
  $("schemes-chart").innerHTML = svg + "</svg>";
  $("legend").innerHTML = SCHEMES.map((s, k) => `<span><i style="background:${COLORS[k % COLORS.length]}"></i>${s}</span>`).join("");
}

async function refresh() {
  const since = $("range").value;
  const stats = await api("/api/v1/stats", {since, interval: since === "24h" ? "hour" : "day"});
  $("total").textContent = `${stats.total.toLocaleString()} calls`;
  chart(stats.over_time);
  $("migration").querySelector("tbody").innerHTML = stats.legacy_principals.map((p) =>
    `<tr><td>${esc(p.user)}</td><td>${p.calls}</td><td>${esc(Object.keys(p.schemes).join(", "))}</td><td>${p.ips}</td><td>${esc(time(p.last_seen))}</td><td>${esc(p.clients[0] || "")}</td></tr>`).join("");
  const reasons = Object.entries(stats.failure_reasons);
  const top = Math.max(1, ...reasons.map(([, n]) => n));
  $("failures").innerHTML = reasons.map(([r, n]) =>
    `<li><span class="bar" style="width:${Math.round(200 * n / top)}px"></span>${n} · ${esc(r)}</li>`).join("") || "<li>none</li>";
}

function showDecision(d) {
  const li = document.createElement("li");
  li.innerHTML = `<span class="${esc(d.action)}">${esc(d.action)}</span> ${esc(d.subject_type)} <b>${esc(d.subject)}</b> — ${esc(d.rule)}: ${esc(d.reason)} <span class="muted">until ${esc(time(d.expires_at))}</span>`;
  $("decisions").prepend(li);
  while ($("decisions").children.length > 100) $("decisions").lastChild.remove();
}

async function follow() {
  if (streamAbort) streamAbort.abort();
  streamAbort = new AbortController();
  $("decisions").innerHTML = "";
  const r = await fetch("/api/v1/decisions/stream", {headers: {"X-API-Key": key()}, signal: streamAbort.signal});
  if (!r.ok) throw new Error(`decisions stream: ${r.status}`);
  const reader = r.body.getReader();
  const text = new TextDecoder();
  let buf = "";
  $("live").textContent = "following";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buf += text.decode(value, {stream: true});
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut); buf = buf.slice(cut + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event === "decision" && data) showDecision(JSON.parse(data));
    }
  }
}

async function search(ev) {
  if (ev) ev.preventDefault();
  const form = new FormData($("search"));
  const params = Object.fromEntries([...form.entries()].filter(([, v]) => v));
  params.limit = "100";
  params.since = $("range").value;
  const page = await api("/api/v1/audit", params);
  $("results").querySelector("tbody").innerHTML = page.items.map((d) =>
    `<tr><td>${esc(time(d["@timestamp"]))}</td><td>${esc(d.source.ip)}</td><td>${esc(d.http.request.method)}</td><td>${esc(d.url.path)}</td><td>${d.http.response.status_code}</td><td>${esc(d.restguard.scheme)}</td><td>${esc(d.user.name || "")}</td><td>${esc(d.restguard.validation.outcome)}</td><td>${esc(d.restguard.verdict)}</td></tr>`).join("");
}

async function connect(ev) {
  if (ev) ev.preventDefault();
  if ($("key").value) sessionStorage.setItem("restguard.key", $("key").value);
  $("key").value = "";
  status("loading…");
  try {
    await refresh();
    await search();
    status("connected");
    follow().catch((e) => { $("live").textContent = String(e.message); });
  } catch (e) {
    status(String(e.message));
  }
}

for (const s of SCHEMES) $("search").scheme.add(new Option(s, s));
$("login").addEventListener("submit", connect);
$("search").addEventListener("submit", (e) => search(e).catch((x) => status(x.message)));
$("range").addEventListener("change", () => connect());
if (key()) connect();
