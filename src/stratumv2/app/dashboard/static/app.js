// stratumv2 dashboard: polls /api/all every few seconds and draws it. No libraries.
"use strict";

const REFRESH_MS = 3000;

function fmtHashrate(h) {
  const units = [["EH/s", 1e18], ["PH/s", 1e15], ["TH/s", 1e12], ["GH/s", 1e9], ["MH/s", 1e6], ["kH/s", 1e3]];
  for (const [u, s] of units) if (h >= s) return (h / s).toFixed(2) + " " + u;
  return (h > 0 && h < 10 ? h.toPrecision(2) : h.toFixed(0)) + " H/s";
}
function fmtRate(h, err) { return fmtHashrate(h) + (h > 0 ? " ± " + fmtHashrate(err) : ""); }
function fmtDiff(d) { return d >= 1000 ? d.toExponential(3) : d.toPrecision(4); }
function fmtTime(t) { return t ? new Date(t * 1000).toLocaleTimeString() : "–"; }
function fmtBytes(n) {
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + " KiB";
  return n + " B";
}
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function fillTable(id, rows, empty) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = el("tr"); const td = el("td", empty, "muted");
    td.colSpan = document.querySelectorAll("#" + id + " thead th").length;
    tr.appendChild(td); body.appendChild(tr); return;
  }
  for (const cells of rows) {
    const tr = el("tr");
    for (const c of cells) tr.appendChild(c instanceof Node ? c : el("td", c));
    body.appendChild(tr);
  }
}
function fillKv(id, pairs) {
  const dl = document.getElementById(id);
  dl.replaceChildren();
  for (const [k, v] of pairs) { dl.appendChild(el("dt", k)); dl.appendChild(el("dd", v)); }
}

function drawChart(history) {
  const svg = document.getElementById("chart");
  const NS = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const W = 600, H = 160, pad = 4;
  const max = Math.max(1, ...history.map(p => p.hashrate + p.stderr));
  const n = history.length;
  const x = i => pad + (i * (W - 2 * pad)) / Math.max(1, n - 1);
  const y = v => H - pad - (v / max) * (H - 2 * pad);
  const upper = history.map((p, i) => x(i) + "," + y(p.hashrate + p.stderr));
  const lower = history.map((p, i) => x(i) + "," + y(Math.max(0, p.hashrate - p.stderr))).reverse();
  const band = document.createElementNS(NS, "polygon");
  band.setAttribute("points", upper.concat(lower).join(" "));
  band.setAttribute("fill", "rgba(247,147,26,0.2)");
  svg.appendChild(band);
  const line = document.createElementNS(NS, "polyline");
  line.setAttribute("points", history.map((p, i) => x(i) + "," + y(p.hashrate)).join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#f7931a");
  line.setAttribute("stroke-width", "2");
  svg.appendChild(line);
  const label = document.createElementNS(NS, "text");
  label.setAttribute("x", "8"); label.setAttribute("y", "16");
  label.setAttribute("fill", "#8a949e"); label.setAttribute("font-size", "12");
  label.textContent = "max " + fmtHashrate(max);
  svg.appendChild(label);
}

function render(data) {
  const s = data.status;
  document.getElementById("network").textContent = s.network;
  document.getElementById("hashrate").textContent = fmtRate(s.hashrate_10m, s.hashrate_10m_stderr);
  document.getElementById("height").textContent = s.height === null ? "–" : s.height;
  document.getElementById("shares").textContent = s.shares_accepted + " / " + s.shares_rejected;
  document.getElementById("blocks-found").textContent = s.blocks_found + " / " + s.blocks_all_time;
  const info = s.info || {};
  const connect = [];
  if (info.sv1_url) connect.push(["SV1 firmware (URL)", info.sv1_url]);
  if (info.sv2_url) connect.push(["SV2 firmware (URL)", info.sv2_url]);
  if (info.authority_key) connect.push(["SV2 authority public key", info.authority_key]);
  if (info.username_hint) connect.push(["Username", info.username_hint]);
  fillKv("connect", connect);

  drawChart(data.history);
  fillTable("workers", data.workers.map(w => [
    w.name, fmtRate(w.hashrate_1h, w.hashrate_1h_stderr), fmtRate(w.hashrate_24h, w.hashrate_24h_stderr),
    w.accepted, w.rejected, fmtDiff(w.best_session), fmtDiff(w.best_all_time), fmtTime(w.last_share),
  ]), "no worker yet");
  const reasons = new Set([...Object.keys(s.rejected_by_reason), ...Object.keys(s.rejected_by_reason_24h)]);
  fillTable("rejects", [...reasons].sort().map(r => [r, s.rejected_by_reason[r] || 0, s.rejected_by_reason_24h[r] || 0]), "no rejected share");
  const t = data.template;
  fillKv("template", t ? [
    ["height", t.height], ["transactions", t.tx_count], ["fees", t.fees + " sat"],
    ["coinbase value", (t.coinbase_value / 1e8).toFixed(8) + " BTC"], ["pays", t.pays || "the miner's address"],
    ["previous block", t.prev_hash],
  ] : [["template", "waiting for the node"]]);
  fillTable("blocks", data.blocks.map(b => {
    const verdict = el("td", b.node_status, b.accepted ? "ok" : (b.accepted === null ? "muted" : "bad"));
    return [b.height, el("td", b.hash, "hash"), b.tx_count === null ? "–" : b.tx_count, b.pays, b.worker, verdict, fmtTime(b.time)];
  }), "no block found yet");
  fillTable("connections", data.connections.map(c => [c.protocol.toUpperCase(), c.peer, fmtBytes(c.bytes_in), fmtBytes(c.bytes_out)]), "no device connected");
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

async function refresh() {
  try {
    const response = await fetch("/api/all", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    render(await response.json());
  } catch (err) {
    document.getElementById("updated").textContent = "cannot reach the server: " + err.message;
  }
}
refresh();
setInterval(refresh, REFRESH_MS);
