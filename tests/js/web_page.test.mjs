// The web page of `edgerag serve` in a real browser: Debian's chromium, headless,
// driven by puppeteer-core (no browser download) against the server on loopback
// with the shared test models. Steps: the API key prompt; upload of a valid and
// a corrupt document with per-file results; an unchanged re-upload; create and
// delete a collection; a streamed answer; chat; status; phone width; then, with
// no LLM, an extractive answer whose citation opens the chunk with provenance
// and the supporting sentence highlighted. Every step is saved as a screenshot;
// the page must log no console error and send no request off the server.
// Usage: node web_page.test.mjs EDGERAG_BINARY SHARED_MODELS_DIR ARTIFACT_DIR
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const [bin, models, artifacts] = process.argv.slice(2);
const KEY = 'page-test-key';
const QUESTION = 'When was the Bell Rock lighthouse built?';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'edgerag-web-'));
const index = path.join(work, 'index');
const docs = path.join(work, 'docs');
fs.mkdirSync(docs);
fs.mkdirSync(artifacts, { recursive: true });
const valid = path.join(docs, 'lighthouse.md');
fs.writeFileSync(valid, '# Lighthouses\n\n## Bell Rock\n\nThe Bell Rock lighthouse stands off the coast of Angus in Scotland. '
  + 'It was built between 1807 and 1810 by Robert Stevenson. Its light flashes white every five seconds.\n\n'
  + '## Skerryvore\n\nSkerryvore is the tallest lighthouse in Scotland. Alan Stevenson built it from granite.\n');
const corrupt = path.join(docs, 'broken.pdf');
fs.writeFileSync(corrupt, Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage \x00\x01\x02', 'latin1'));

const killer = setTimeout(() => { console.error('timeout'); process.exit(1); }, 150000);
let server = null;
let browser = null;

function serve(args) {
  server = spawn(bin, ['serve', '--index', index, '--embed', `${models}/synth-bert-embed.gguf`, '--host', '127.0.0.1',
    '--port', '0', '--threads', '1', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve(m[1]);
    });
    server.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

async function stopServer() {
  const s = server;
  server = null;
  s.removeAllListeners('exit');
  if (s.exitCode !== null || s.signalCode !== null) return;  // it already ended (failed to start)
  await new Promise((resolve) => { s.on('exit', resolve); s.kill('SIGTERM'); });
}

// A page whose requests may only go to `origin`, with its console errors collected.
async function openPage(origin, { allow401 = false } = {}) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 860 });
  page.offServer = [];
  page.errors = [];
  await page.setRequestInterception(true);
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.origin === origin || u.protocol === 'data:') r.continue();
    else { page.offServer.push(r.url()); r.abort(); }
  });
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (allow401 && /status of 401/.test(m.text())) return;  // the unauthenticated calls before the key is given
    page.errors.push(m.text());
  });
  page.on('pageerror', (e) => page.errors.push(`page error: ${e.message}`));
  page.on('dialog', (d) => d.accept());  // "Delete the collection?"
  return page;
}

function checkClean(page) {
  assert.deepEqual(page.offServer, [], 'no request leaves the server');
  assert.deepEqual(page.errors, [], 'no console errors');
}

let shot = 0;
async function screenshot(page, name) {
  shot += 1;
  await page.screenshot({ path: path.join(artifacts, `${String(shot).padStart(2, '0')}-${name}.png`) });
}

const text = (page, sel) => page.$eval(sel, (e) => e.textContent);

try {
  browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--user-data-dir=${fs.mkdtempSync(path.join(work, 'profile-'))}`],
  });

  // 1. With an API key: the page asks for it, then works with it.
  let origin = await serve(['-m', `${models}/stories260K.gguf`, '--api-key', KEY]);
  let page = await openPage(origin, { allow401: true });
  await page.goto(`${origin}/`);
  await page.waitForSelector('#key-dialog[open]', { visible: true });
  assert.match(await text(page, '#key-why'), /needs an API key/);
  await screenshot(page, 'key-prompt');
  await page.type('#key-input', KEY);
  await page.click('#key-save');
  await page.waitForFunction(() => !document.getElementById('key-dialog').open);
  await page.waitForFunction(() => document.getElementById('chat-model').textContent.includes('stories260K'));
  assert.deepEqual(page.offServer, []);
  assert.deepEqual(page.errors, []);
  await page.close();

  // 2. The key is kept: a fresh page loads with no error at all.
  page = await openPage(origin);
  await page.goto(`${origin}/`, { waitUntil: 'networkidle0' });
  assert.equal(await page.$eval('#key-dialog', (d) => d.open), false);
  await screenshot(page, 'ask-empty');

  // Keyboard: arrow keys move between the views; every form control has a label.
  await page.focus('#tab-ask');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.$eval('#tab-library', (t) => t.getAttribute('aria-selected')), 'true');
  assert.equal(await page.$eval('#view-library', (v) => v.hidden), false);
  const unlabelled = await page.$$eval('input, select, textarea',
    (els) => els.filter((e) => e.type !== 'file' && e.labels.length === 0).map((e) => e.id));
  assert.deepEqual(unlabelled, []);

  // 3. Upload a valid and a corrupt document: one result per file.
  const input = await page.$('#file-input');
  await input.uploadFile(valid, corrupt);
  await page.waitForFunction(() => [...document.querySelectorAll('#uploads li')].filter((li) => li.dataset.state).length === 2,
    { timeout: 30000 });
  const results = await page.$$eval('#uploads li', (lis) => lis.map((li) => ({
    file: li.dataset.file, state: li.dataset.state, text: li.querySelector('.result').textContent,
    progress: li.querySelector('progress').value })));
  assert.equal(results[0].file, 'lighthouse.md');
  assert.equal(results[0].state, 'ok', JSON.stringify(results));
  assert.match(results[0].text, /^Added: \d+ chunks/);
  assert.equal(results[0].progress, 1);
  assert.equal(results[1].file, 'broken.pdf');
  assert.equal(results[1].state, 'bad');
  assert.match(results[1].text, /Could not read this file: .*PDF/);
  await page.waitForFunction(() => document.querySelectorAll('#docs tbody tr').length === 1);
  const row = await page.$$eval('#docs tbody td', (tds) => tds.map((t) => t.textContent));
  assert.equal(row[0], 'lighthouse.md');
  assert.equal(row[1], 'md');
  assert.match(row[2], /^\d+ B$/);
  assert.match(row[3], /^[1-9]\d*$/);
  await screenshot(page, 'upload-results');

  // 4. The same file again: it says so.
  await input.uploadFile(valid);
  await page.waitForFunction(() => document.querySelectorAll('#uploads li[data-state]').length === 3);
  assert.equal(await page.$eval('#uploads li:nth-child(3)', (li) => li.dataset.state), 'same');
  assert.match(await text(page, '#uploads li:nth-child(3) .result'), /Unchanged: this file is already indexed/);
  await screenshot(page, 'reupload-unchanged');

  // 5. Create and delete a collection.
  await page.type('#new-collection-name', 'scratch');
  await page.click('#new-collection button[type=submit]');
  await page.waitForFunction(() => [...document.querySelectorAll('#collections .pick')].some((b) => b.textContent.startsWith('scratch')));
  assert.match(await text(page, '#docs-heading'), /"scratch"/);
  await screenshot(page, 'collection-created');
  await page.click('button[aria-label="Delete collection scratch"]');
  await page.waitForFunction(() => ![...document.querySelectorAll('#collections .pick')].some((b) => b.textContent.startsWith('scratch')));
  assert.match(await text(page, '#notice'), /Deleted collection "scratch"/);
  await screenshot(page, 'collection-deleted');

  // 6. Ask: the answer streams in (the box changes many times while busy), then timings and tokens.
  await page.click('#tab-ask');
  await page.evaluate(() => {
    window.streamed = [];  // the answer's length at each change while it streams
    const answer = document.getElementById('answer');
    new MutationObserver(() => { if (answer.getAttribute('aria-busy') === 'true') window.streamed.push(answer.textContent.length); })
      .observe(answer, { childList: true, characterData: true, subtree: true });
  });
  const boxBefore = await page.$eval('#answer-meta', (m) => m.getBoundingClientRect().top);
  await page.type('#question', QUESTION);
  await page.click('#ask-button');
  await page.waitForFunction(() => document.getElementById('answer').getAttribute('aria-busy') === 'true'
    && document.getElementById('answer').textContent.length > 0);
  const boxWhile = await page.$eval('#answer-meta', (m) => m.getBoundingClientRect().top);
  await page.waitForFunction(() => document.getElementById('answer').getAttribute('aria-busy') === 'false', { timeout: 30000 });
  // Text was shown before the whole answer was there (deltas), then the finished answer replaced it.
  const streamed = await page.evaluate(() => window.streamed);
  const final = (await text(page, '#answer')).length;
  assert.ok(streamed.some((n) => n > 0 && n < final), `partial text shown while streaming: ${streamed} of ${final}`);
  const boxAfter = await page.$eval('#answer-meta', (m) => m.getBoundingClientRect().top);
  assert.deepEqual([boxWhile, boxAfter], [boxBefore, boxBefore], 'the figures under the answer do not move');
  assert.ok((await text(page, '#answer')).length > 20);
  assert.match(await text(page, '#meta-tokens'), /prompt \d+ · context \d+ · answer [1-9]\d*/);
  assert.match(await text(page, '#meta-generation'), /prefill .* decode/);
  await screenshot(page, 'streamed-answer');

  // 7. Chat on /v1/chat/completions.
  await page.click('#tab-chat');
  await page.type('#chat-input', 'Once upon a time');
  await page.click('#chat-send');
  await page.waitForFunction(() => {
    const a = document.querySelector('#chat-log li.assistant .text');
    return a && a.textContent.length > 10 && !document.getElementById('chat-send').disabled;
  }, { timeout: 30000 });
  await screenshot(page, 'chat');

  // 8. Status from /metrics.
  await page.click('#tab-status');
  await page.waitForFunction(() => document.getElementById('status').textContent.includes('KV blocks in use'));
  const status = await text(page, '#status');
  assert.match(status, /Language modelstories260K/);
  assert.match(status, /Prefix-cache hit rate\d/);
  await screenshot(page, 'status');

  // 9. Phone width: one column, nothing wider than the screen.
  await page.setViewport({ width: 390, height: 844 });
  await page.click('#tab-ask');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone`);
  await screenshot(page, 'phone');
  checkClean(page);
  await page.close();
  await stopServer();

  // 10. No LLM: an extractive answer, said plainly; a citation opens its chunk.
  origin = await serve([]);
  page = await openPage(origin);
  await page.goto(`${origin}/`, { waitUntil: 'networkidle0' });
  assert.match(await text(page, '#answer-mode'), /No language model is loaded/);
  // Settings go with the question: BM25, one passage, markdown files only.
  let sent = null;
  page.on('request', (r) => { if (r.url().endsWith('/v1/rag/query')) sent = JSON.parse(r.postData()); });
  await page.click('#settings summary');
  await page.select('#set-mode', 'bm25');
  await page.$eval('#set-topk', (e) => { e.value = '1'; });
  await page.type('#set-types', 'md');
  await page.type('#question', QUESTION);
  await page.click('#ask-button');
  await page.waitForSelector('#answer a.cite', { timeout: 30000 });
  assert.match(await text(page, '#answer-mode'), /^Extractive answer/);
  assert.match(await text(page, '#meta-generation'), /^extract /);
  assert.equal(sent.mode, 'bm25');
  assert.equal(sent.stream, false);
  assert.equal(sent.config.prompt.max_chunks, 1);
  assert.deepEqual(sent.filter, { file_types: ['md'], path_prefix: '' });
  assert.match(await text(page, '#meta-total'), / · 1 passages$/);
  await page.click('#answer a.cite');
  await page.waitForSelector('#source-body:not([hidden])');
  const prov = await text(page, '#source-prov');
  assert.match(prov, /Filelighthouse\.md/);
  assert.match(prov, /SectionLighthouses > Bell Rock/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'source-heading');
  await screenshot(page, 'citation-source');
  // The extractive answer quotes its sentences: for each [n] the highlighted
  // sentence is the one the answer quotes just before that marker.
  const links = await page.$$('#answer a.cite');
  for (let i = 0; i < links.length; i++) {
    await links[i].click();
    const said = await page.evaluate((i) => {
      const a = document.querySelectorAll('#answer a.cite')[i];
      let t = '';
      for (let node = a.previousSibling; node && !t.trim(); node = node.previousSibling) t = node.textContent;
      return t;
    }, i);
    const mark = (await text(page, '#source-text mark')).trim();
    assert.ok(mark.length > 20 && said.includes(mark), `link ${i}: highlighted "${mark}", the answer says "${said}"`);
    assert.ok((await text(page, '#source-text')).includes(mark));
  }
  checkClean(page);
  await page.close();
  console.log(`web page tests passed (${shot} screenshots in ${artifacts})`);
} finally {
  clearTimeout(killer);
  if (browser) await browser.close();
  if (server) await stopServer();
  fs.rmSync(work, { recursive: true, force: true });
}
