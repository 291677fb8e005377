// The edgerag page: collections and uploads, cited answers streamed from
// /v1/rag/query, a chat on /v1/chat/completions and a status view from /metrics.
// Everything it calls is on the serving origin; every text from the server or a
// document is inserted as text (textContent), never as markup.
'use strict';

const $ = (id) => document.getElementById(id);
const KEY_STORE = 'edgerag.apiKey';
const state = { server: null, collection: 'default', collections: [], answerCitations: new Map(), asking: null };

// ---------- HTTP ----------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function authHeaders() {
  const key = localStorage.getItem(KEY_STORE);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function errorOf(res) {
  let message = `HTTP ${res.status}`;
  try { message = (await res.json()).error?.message || message; } catch { /* not JSON */ }
  return new ApiError(res.status, message);
}

// One API call; a 401 asks for the key and tries once more with it.
async function api(path, { method = 'GET', body, signal, retried = false } = {}) {
  const headers = { ...authHeaders() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  if (res.status === 401 && !retried) {
    await askForKey(localStorage.getItem(KEY_STORE) ? 'The API key was refused.' : 'This server needs an API key.');
    return api(path, { method, body, signal, retried: true });
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

// Splits server-sent events out of `buffer`: [parsed data objects, rest]; "[DONE]" ends a stream.
function takeEvents(buffer) {
  const events = [];
  let at;
  while ((at = buffer.indexOf('\n\n')) >= 0) {
    const block = buffer.slice(0, at);
    buffer = buffer.slice(at + 2);
    const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
    if (data && data !== '[DONE]') events.push(JSON.parse(data));
  }
  return [events, buffer];
}

async function readEvents(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    let events;
    [events, buffer] = takeEvents(buffer + decoder.decode(value, { stream: true }));
    events.forEach(onEvent);
  }
}

// ---------- small helpers -------------------------------------------------

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  children.forEach((c) => e.append(c));
  return e;
}

// A message above the views; one that is not `sticky` goes away after a while.
let noticeTimer = 0;
function notice(text, sticky = false) {
  clearTimeout(noticeTimer);
  $('notice').textContent = text || '';
  if (!sticky) noticeTimer = setTimeout(() => { $('notice').textContent = ''; }, 8000);
}

function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}
const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);
const fileName = (path) => {
  const base = path.split('/').pop();
  try { return decodeURIComponent(base); } catch { return base; }  // uploads are stored %XX-escaped
};

// ---------- API key -------------------------------------------------------

let keyWaiters = [];
function askForKey(why) {
  $('key-why').textContent = why;
  $('key-input').value = '';
  if (!$('key-dialog').open) $('key-dialog').showModal();
  return new Promise((resolve) => keyWaiters.push(resolve));
}
function keyDialogClosed(saved) {
  if (saved) localStorage.setItem(KEY_STORE, $('key-input').value.trim());
  const waiters = keyWaiters;
  keyWaiters = [];
  waiters.forEach((w) => w());
  if (saved) refreshAll();
}

// ---------- tabs ----------------------------------------------------------

const tabs = () => [...document.querySelectorAll('[role=tab]')];
function selectTab(tab, focus = true) {
  for (const t of tabs()) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute('aria-controls')).hidden = !on;
  }
  if (focus) tab.focus();
  if (tab.id === 'tab-status') refreshStatus();
  if (tab.id === 'tab-library') refreshLibrary();
}
function tabKeys(e) {
  const all = tabs();
  const i = all.indexOf(document.activeElement);
  const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: all.length - 1 }[e.key];
  if (i < 0 || to === undefined) return;
  e.preventDefault();
  selectTab(all[(to + all.length) % all.length]);
}

// ---------- server and collections ----------------------------------------

async function loadServer() {
  state.server = await (await api('/v1/server')).json();
  const s = state.server;
  if (!s.index) notice('This server was started without --index: start it with `edgerag serve --index DIR` to upload and ask.', true);
  $('chat-model').textContent = s.llm ? `Model: ${s.llm}` : 'No language model is loaded (start the server with -m MODEL to chat).';
  $('chat-send').disabled = !s.llm;
  $('answer-mode').textContent = s.llm ? '' :
    'No language model is loaded: answers are extractive, the best supporting sentences of the retrieved passages, quoted as they are.';
  $('set-max-tokens').max = s.max_tokens;
  $('chat-max-tokens').max = s.max_tokens;
}

async function loadCollections() {
  if (!state.server?.index) return;
  state.collections = (await (await api('/v1/collections')).json()).data;
  if (!state.collections.some((c) => c.name === state.collection) && state.collections.length)
    state.collection = state.collections[0].name;
  const list = $('collections');
  list.replaceChildren(...state.collections.map((c) => el('li', {},
    el('button', { class: 'pick', type: 'button', 'aria-pressed': String(c.name === state.collection),
      onclick: () => { state.collection = c.name; refreshLibrary(); } },
      el('span', { text: c.name }), ' ', el('span', { class: 'count', text: `${c.documents} docs · ${c.chunks} chunks` })),
    el('button', { class: 'danger', type: 'button', 'aria-label': `Delete collection ${c.name}`, text: 'Delete',
      onclick: () => deleteCollection(c.name) }))));
  if (!state.collections.length) list.replaceChildren(el('li', { class: 'muted', text: 'No collections yet: upload files to "default" or create one.' }));
  const pick = $('set-collection');
  const chosen = pick.value;
  pick.replaceChildren(el('option', { value: '', text: 'All collections' }),
    ...state.collections.map((c) => el('option', { value: c.name, text: c.name })));
  pick.value = state.collections.some((c) => c.name === chosen) ? chosen : '';
}

async function deleteCollection(name) {
  if (!confirm(`Delete the collection "${name}" and all its documents?`)) return;
  try {
    await api(`/v1/collections?name=${encodeURIComponent(name)}`, { method: 'DELETE' });
    notice(`Deleted collection "${name}".`);
  } catch (e) { notice(`Could not delete "${name}": ${e.message}`); }
  refreshLibrary();
}

async function createCollection(e) {
  e.preventDefault();
  const name = $('new-collection-name').value.trim();
  if (!name) return;
  try {
    const r = await (await api('/v1/collections', { method: 'POST', body: { name } })).json();
    notice(r.created ? `Created collection "${name}".` : `The collection "${name}" already exists.`);
    $('new-collection-name').value = '';
    state.collection = name;
  } catch (err) { notice(`Could not create "${name}": ${err.message}`); }
  refreshLibrary();
}

async function loadDocuments() {
  $('docs-heading').textContent = `Documents in "${state.collection}"`;
  const body = $('docs').tBodies[0];
  let docs = [];
  try {
    docs = (await (await api(`/v1/documents?collection=${encodeURIComponent(state.collection)}`)).json()).data;
  } catch (e) { notice(`Could not list documents: ${e.message}`); }
  body.replaceChildren(...docs.map((d) => el('tr', {},
    el('td', { class: 'name', text: fileName(d.path), title: d.path }),
    el('td', { text: d.file_type }),
    el('td', { class: 'num', text: fmtBytes(d.size) }),
    el('td', { class: 'num', text: String(d.chunks) }),
    el('td', { text: new Date(d.ingested_at * 1000).toLocaleString() }),
    el('td', {}, el('button', { class: 'danger', type: 'button', text: 'Delete', 'aria-label': `Delete ${fileName(d.path)}`,
      onclick: () => deleteDocument(d.path) })))));
  $('docs-empty').hidden = docs.length > 0;
}

async function deleteDocument(path) {
  try {
    await api(`/v1/documents?collection=${encodeURIComponent(state.collection)}&path=${encodeURIComponent(path)}`,
      { method: 'DELETE' });
  } catch (e) { notice(`Could not delete ${fileName(path)}: ${e.message}`); }
  refreshLibrary();
}

async function refreshLibrary() {
  try {
    await loadCollections();
    if (state.server?.index) await loadDocuments();
  } catch (e) { notice(e.message); }
}

// ---------- upload --------------------------------------------------------

const STAGES = { upload: 'Uploading', parse: 'Parsing', chunk: 'Chunking', embed: 'Embedding', done: 'Embedding' };
const STAGE_AT = { parse: 0.55, chunk: 0.7, embed: 0.85, done: 0.85 };

function uploadRow(file) {
  const bar = el('progress', { max: '1', value: '0', 'aria-label': `Progress of ${file.name}` });
  const stage = el('span', { class: 'stage', text: 'Waiting' });
  const result = el('span', { class: 'result', role: 'status' });
  const li = el('li', {}, el('span', { class: 'name', text: file.name }), el('span', {}, bar, ' ', stage), result);
  li.dataset.file = file.name;
  $('uploads').append(li);
  return { li, bar, stage, result };
}

// One file per request: its own upload progress, stages and result.
function uploadOne(file, row, collection, retried = false) {
  return new Promise((resolve) => {
    const form = new FormData();
    form.append('collection', collection);
    form.append('stream', 'true');
    form.append('file', file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/documents');
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    let seen = 0, buffer = '', report = null;
    const finish = (cls, text) => {
      row.bar.value = 1;
      row.stage.textContent = cls === 'bad' ? 'Failed' : 'Done';
      row.result.className = `result ${cls}`;
      row.result.textContent = text;
      row.li.dataset.state = cls;
      resolve();
    };
    row.stage.textContent = STAGES.upload;
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) row.bar.value = 0.5 * (e.loaded / e.total); };
    xhr.onprogress = () => {
      if (xhr.status !== 200) return;
      let events;
      [events, buffer] = takeEvents(buffer + xhr.responseText.slice(seen));
      seen = xhr.responseText.length;
      for (const ev of events) {
        if (ev.object === 'ingest.progress') {
          row.stage.textContent = STAGES[ev.stage] || ev.stage;
          row.bar.value = Math.max(row.bar.value, STAGE_AT[ev.stage] ?? 0.5);
        } else if (ev.object === 'ingest.report') report = ev;
      }
    };
    xhr.onload = () => {
      if (xhr.status === 401 && !retried) {
        askForKey('This server needs an API key.').then(() => uploadOne(file, row, collection, true).then(resolve));
        return;
      }
      if (xhr.status !== 200) {
        let msg = `HTTP ${xhr.status}`;
        try { msg = JSON.parse(xhr.responseText).error.message; } catch { /* not JSON */ }
        finish('bad', msg);
        return;
      }
      xhr.onprogress();
      if (!report) finish('bad', 'the server ended the upload without a report');
      else if (report.failures.length) finish('bad', `Could not read this file: ${report.failures[0].error}`);
      else if (report.unchanged) finish('same', 'Unchanged: this file is already indexed, nothing to do.');
      else finish('ok', `${report.updated ? 'Updated' : 'Added'}: ${report.chunks} chunks in ${report.seconds.toFixed(2)} s`);
    };
    xhr.onerror = () => finish('bad', 'network error during the upload');
    xhr.send(form);
  });
}

async function uploadFiles(files) {
  if (!files.length) return;
  const collection = state.collection;
  const rows = [...files].map((f) => [f, uploadRow(f)]);
  for (const [f, row] of rows) await uploadOne(f, row, collection);
  refreshLibrary();
}

// ---------- ask -----------------------------------------------------------

function askConfig() {
  const num = (id) => Number($(id).value);
  return {
    retrieval: { rerank: $('set-rerank').value },
    prompt: { max_chunks: num('set-topk') },
    generation: { max_tokens: num('set-max-tokens'), temperature: num('set-temperature') },
  };
}

function askBody(question, stream) {
  const body = { question, stream, config: askConfig() };
  if ($('set-mode').value) body.mode = $('set-mode').value;
  if ($('set-collection').value) body.collection = $('set-collection').value;
  const types = $('set-types').value.split(/[\s,]+/).map((t) => t.replace(/^\./, '').toLowerCase()).filter(Boolean);
  const prefix = $('set-prefix').value.trim();
  if (types.length || prefix) body.filter = { file_types: types, path_prefix: prefix };
  return body;
}

// The answer text with each [n] as a link to its cited passage.
function renderAnswer(text, citations) {
  const out = $('answer');
  out.replaceChildren();
  const parts = text.split(/(\[\d+\])/);
  let claim = '';  // what the answer says before this marker (since the previous one)
  for (const p of parts) {
    const m = /^\[(\d+)\]$/.exec(p);
    if (m && citations.has(Number(m[1]))) {
      const n = Number(m[1]);
      const said = claim;
      out.append(el('a', { class: 'cite', href: `#source-${n}`, 'data-n': String(n), 'aria-label': `Source ${n}`, text: p,
        onclick: (e) => { e.preventDefault(); openSource(n, said, e.currentTarget); } }));
    } else {
      out.append(p);
      if (p.trim()) claim = p;
    }
  }
}

const WORD = /[\p{L}\p{N}]+/gu;
const words = (s) => new Set((s.toLowerCase().match(WORD) || []).filter((w) => w.length > 2));
function sentences(text) {
  if (typeof Intl.Segmenter === 'function')
    return [...new Intl.Segmenter(undefined, { granularity: 'sentence' }).segment(text)].map((s) => s.segment);
  return text.match(/[^.!?\n]+[.!?]*\s*|\n+/g) || [text];
}

// The passage sentence that best supports what the answer says before the
// clicked [n]: the one sharing the most words with it.
function supportingSentence(chunkText, said) {
  const claim = words(said || $('answer').textContent);
  let best = -1, bestScore = 0;
  sentences(chunkText).forEach((s, i) => {
    let score = 0;
    for (const w of words(s)) if (claim.has(w)) score++;
    if (score > bestScore) { best = i; bestScore = score; }
  });
  return best;
}

function openSource(n, said, link) {
  const c = state.answerCitations.get(n);
  if (!c) return;
  document.querySelectorAll('.cite[aria-current]').forEach((a) => a.removeAttribute('aria-current'));
  document.querySelectorAll(`.cite[data-n="${n}"]`).forEach((a) => a.setAttribute('aria-current', 'true'));
  $('source-heading').textContent = `Source [${n}]`;
  const prov = [['File', fileName(c.file)], ['Path', c.file]];
  if (c.page) prov.push(['Page', String(c.page)]);
  if (c.rows) prov.push(['Rows', `${c.rows[0]}–${c.rows[1]}`]);
  if (c.headings) prov.push(['Section', c.headings]);
  prov.push(['Bytes', `${c.byte_start}–${c.byte_end}`]);
  $('source-prov').replaceChildren(...prov.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
  const best = supportingSentence(c.text, said);
  $('source-text').replaceChildren(...sentences(c.text).map((s, i) => (i === best ? el('mark', { text: s }) : s)));
  $('source-empty').hidden = true;
  $('source-body').hidden = false;
  $('source').dataset.n = String(n);
  if (link) $('source-heading').focus();
}

function showMeta(a) {
  const t = a.timings_ms;
  $('meta-retrieval').textContent = `embed ${fmtMs(t.embed)} · search ${fmtMs(t.search)} · rerank ${fmtMs(t.rerank)}` +
    (a.reranked ? ' (reranked)' : '');
  $('meta-generation').textContent = a.mode === 'extractive' ? `extract ${fmtMs(t.extract)}` :
    `queue ${fmtMs(t.queue)} · prefill ${fmtMs(t.prefill)} · decode ${fmtMs(t.decode)}`;
  $('meta-tokens').textContent = `prompt ${a.tokens.prompt} · context ${a.tokens.context} · answer ${a.tokens.answer}`;
  $('meta-total').textContent = `${fmtMs(t.total)} · ${a.context_chunks} passages`;
}

function finishAnswer(a) {
  state.answerCitations = new Map(a.citations.map((c) => [c.n, c]));
  renderAnswer(a.answer || '(no answer)', state.answerCitations);
  if (a.mode === 'extractive')
    $('answer-mode').textContent = 'Extractive answer (no language model is loaded): the best supporting sentences of the retrieved passages, quoted as they are.';
  showMeta(a);
}

async function ask(e) {
  e.preventDefault();
  const question = $('question').value.trim();
  if (!question || state.asking) return;
  const stream = Boolean(state.server?.llm);
  const controller = new AbortController();
  state.asking = controller;
  $('ask-button').disabled = true;
  $('ask-stop').disabled = false;
  $('answer').setAttribute('aria-busy', 'true');
  $('answer').textContent = '';
  $('answer').classList.remove('error');
  for (const id of ['meta-retrieval', 'meta-generation', 'meta-tokens', 'meta-total']) $(id).textContent = '…';
  try {
    const res = await api('/v1/rag/query', { method: 'POST', body: askBody(question, stream), signal: controller.signal });
    if (!stream) finishAnswer(await res.json());
    else {
      let text = '';
      await readEvents(res, (ev) => {
        if (ev.error) throw new ApiError(500, ev.error.message);
        if (ev.object === 'rag.answer.delta') {
          text += ev.delta;
          const box = $('answer');
          const following = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
          box.textContent = text;
          if (following) box.scrollTop = box.scrollHeight;  // keep the newest text in view unless the reader scrolled up
        } else if (ev.object === 'rag.answer') finishAnswer(ev);
      });
    }
  } catch (err) {
    if (err.name !== 'AbortError') {
      $('answer').textContent = `Error: ${err.message}`;
      $('answer').classList.add('error');
      for (const id of ['meta-retrieval', 'meta-generation', 'meta-tokens', 'meta-total']) $(id).textContent = '–';
    }
  } finally {
    state.asking = null;
    $('answer').setAttribute('aria-busy', 'false');
    $('ask-button').disabled = false;
    $('ask-stop').disabled = true;
  }
}

// ---------- chat ----------------------------------------------------------

let chatHistory = [];
function chatBubble(role, text) {
  const body = el('span', { class: 'text', text });
  const li = el('li', { class: role }, el('span', { class: 'who', text: role === 'user' ? 'You' : state.server?.llm || 'Model' }), body);
  $('chat-log').append(li);
  return body;
}

async function chat(e) {
  e.preventDefault();
  const text = $('chat-input').value.trim();
  if (!text || !state.server?.llm) return;
  $('chat-input').value = '';
  chatHistory.push({ role: 'user', content: text });
  chatBubble('user', text);
  const out = chatBubble('assistant', '');
  $('chat-send').disabled = true;
  let reply = '';
  try {
    const res = await api('/v1/chat/completions', { method: 'POST', body: {
      model: state.server.llm, messages: chatHistory, stream: true,
      max_tokens: Number($('chat-max-tokens').value), temperature: Number($('chat-temperature').value) } });
    await readEvents(res, (ev) => {
      if (ev.error) throw new ApiError(500, ev.error.message);
      reply += ev.choices?.[0]?.delta?.content || '';
      out.textContent = reply;
    });
    chatHistory.push({ role: 'assistant', content: reply });
  } catch (err) {
    out.textContent = `Error: ${err.message}`;
    out.classList.add('error');
    chatHistory.pop();
  } finally {
    $('chat-send').disabled = false;
  }
}

// ---------- status --------------------------------------------------------

// Prometheus text -> {name: value} for unlabelled samples.
function parseMetrics(text) {
  const m = {};
  for (const line of text.split('\n')) {
    const r = /^edgerag_([a-z_]+) (\S+)$/.exec(line);
    if (r) m[r[1]] = Number(r[2]);
  }
  return m;
}

async function refreshStatus() {
  const rows = [];
  try {
    const s = state.server || (await (await api('/v1/server')).json());
    const m = parseMetrics(await (await fetch('/metrics')).text());
    rows.push(['Language model', s.llm || 'none (answers are extractive)'], ['Embedder', s.embed || 'none'],
      ['Reranker', s.rerank || 'none'], ['Index', s.index ? 'yes' : 'none'], ['Device', s.device]);
    if (s.n_ctx) rows.push(['Context per request', `${s.n_ctx} tokens`]);
    if (m.kv_blocks_total !== undefined) {
      rows.push(['KV blocks in use', `${m.kv_blocks_used} / ${m.kv_blocks_total}`],
        ['Prefix-cache hit rate', `${(100 * m.prefix_cache_hit_rate).toFixed(1)} %`],
        ['Queue', `${m.queue_depth} waiting · ${m.running_sequences} running`],
        ['Tokens generated', String(m.generated_tokens)], ['Decode speed', `${m.tokens_per_second.toFixed(1)} tokens/s`]);
    }
    rows.push(['Open requests', String(m.open_requests ?? 0)], ['Open connections', String(m.open_connections ?? 0)]);
  } catch (e) { rows.push(['Error', e.message]); }
  $('status').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
}

// ---------- start ---------------------------------------------------------

async function refreshAll() {
  try {
    await loadServer();
    await refreshLibrary();
  } catch (e) { notice(e.message); }
}

function init() {
  $('tabs').addEventListener('keydown', tabKeys);
  for (const t of tabs()) t.addEventListener('click', () => selectTab(t));
  $('key-button').addEventListener('click', () => askForKey('Enter the API key to use with this server.'));
  $('key-form').addEventListener('submit', () => keyDialogClosed(true));
  $('key-cancel').addEventListener('click', () => $('key-dialog').close());
  $('key-dialog').addEventListener('cancel', () => keyDialogClosed(false));
  $('key-dialog').addEventListener('close', () => { if (keyWaiters.length) keyDialogClosed(false); });
  $('ask-form').addEventListener('submit', ask);
  $('question').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('ask-form').requestSubmit();
  });
  $('ask-stop').addEventListener('click', () => state.asking?.abort());
  $('new-collection').addEventListener('submit', createCollection);
  $('file-input').addEventListener('change', (e) => { uploadFiles(e.target.files); e.target.value = ''; });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); uploadFiles(e.dataTransfer.files); });
  $('chat-form').addEventListener('submit', chat);
  $('chat-clear').addEventListener('click', () => { chatHistory = []; $('chat-log').replaceChildren(); });
  $('status-refresh').addEventListener('click', refreshStatus);
  setInterval(() => { if (!$('view-status').hidden) refreshStatus(); }, 3000);
  refreshAll();
}

init();
