// The operator page: plain JavaScript, no build step. It acts only through calsync's admin API, with the token the
// operator enters (kept in this tab's sessionStorage). Data is put into the page only as text (textContent), never as
// HTML, and the page's Content-Security-Policy allows no inline script.
'use strict';

(function () {
  const TOKEN_KEY = 'calsync.adminToken';
  // the page is served at {base-path}/ops/: the admin API is at {base-path}/admin/...
  const base = window.location.pathname.replace(/\/ops(\/.*)?$/, '');
  const $ = (id) => document.getElementById(id);
  let grantsCursor = null;

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function token() {
    return window.sessionStorage.getItem(TOKEN_KEY);
  }

  async function api(method, path, body) {
    const headers = { Authorization: 'Bearer ' + token(), Accept: 'application/json' };
    const init = { method, headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(base + path, init);
    } catch (e) {
      throw new ApiError(0, 'the service did not answer (' + e.message + ')');
    }
    let data = null;
    const text = await response.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = null;
      }
    }
    if (!response.ok) {
      const detail = data && (data.message || data.error) ? (data.error ? data.error + ': ' : '') + (data.message || '') : text;
      throw new ApiError(response.status, method + ' ' + path + ' failed with ' + response.status + (detail ? ' (' + detail + ')' : ''));
    }
    return data;
  }

  function showError(error) {
    if (error instanceof ApiError && error.status === 401) {
      window.sessionStorage.removeItem(TOKEN_KEY);
      showLogin('The token was refused (401). Enter the admin API token again.');
      return;
    }
    const box = $('error');
    box.textContent = error.message || String(error);
    box.hidden = false;
  }

  function clearError() {
    $('error').hidden = true;
    $('error').textContent = '';
  }

  function showLogin(message) {
    $('console').hidden = true;
    $('refresh').hidden = true;
    $('forget-token').hidden = true;
    $('login').hidden = false;
    const box = $('error');
    box.textContent = message || '';
    box.hidden = !message;
    $('token').focus();
  }

  function showConsole() {
    $('login').hidden = true;
    $('console').hidden = false;
    $('refresh').hidden = false;
    $('forget-token').hidden = false;
  }

  // times come as the admin API writes them (epoch milliseconds or ISO-8601 text): shown as ISO-8601 in UTC
  function when(value) {
    if (typeof value === 'number') {
      return new Date(value).toISOString();
    }
    return value;
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    if (className) {
      node.className = className;
    }
    return node;
  }

  function row(cells) {
    const tr = document.createElement('tr');
    cells.forEach((cell) => tr.appendChild(cell instanceof Node ? cell : el('td', cell)));
    return tr;
  }

  function button(text, className, onClick) {
    const b = el('button', text, className);
    b.type = 'button';
    b.addEventListener('click', onClick);
    return b;
  }

  function cellWith(node) {
    const td = document.createElement('td');
    td.appendChild(node);
    return td;
  }

  function definitions(target, entries) {
    target.replaceChildren();
    entries.forEach(([name, value]) => {
      target.appendChild(el('dt', name));
      target.appendChild(el('dd', value === null || value === undefined ? '–' : value));
    });
  }

  async function loadSummary() {
    const s = await api('GET', '/admin/summary');
    definitions($('summary'), [
      ['Notifications waiting', s.notifications.received],
      ['Being processed', s.notifications.processing],
      ['Dead letters', s.notifications.dead],
      ['Oldest waiting received at', when(s.notifications.oldest_received_at)],
      ['Grants paused', s.grants.paused],
      ['Grants active', s.grants.active],
      ['Reconciliations queued', s.reconcile.queued],
      ['Reconciliations running', s.reconcile.running],
    ]);
  }

  async function loadGrants(more) {
    const state = $('grant-state').value;
    let path = '/admin/grants?state=' + encodeURIComponent(state) + '&limit=100';
    if (more && grantsCursor) {
      path += '&cursor=' + encodeURIComponent(grantsCursor);
    }
    const page = await api('GET', path);
    const body = $('grants');
    if (!more) {
      body.replaceChildren();
    }
    page.data.forEach((g) => {
      const action = document.createElement('td');
      if (g.state === 'paused') {
        action.appendChild(button('Resume', 'resume', () => resume(g.grant_id)));
      }
      const tr = row([g.grant_id, el('td', g.state, 'state'), g.reason, when(g.updated_at), action]);
      tr.dataset.grantId = g.grant_id;
      tr.dataset.state = g.state;
      if (g.state === 'paused') {
        tr.classList.add('paused');
      }
      body.appendChild(tr);
    });
    grantsCursor = page.next_cursor;
    $('grants-more').hidden = !grantsCursor;
  }

  async function resume(grantId) {
    clearError();
    try {
      await api('POST', '/admin/grants/' + encodeURIComponent(grantId) + '/resume');
      await Promise.all([loadGrants(false), loadSummary(), loadRuns()]);
    } catch (e) {
      showError(e);
    }
  }

  async function loadDeadLetters() {
    const page = await api('GET', '/admin/notifications?status=dead&limit=200');
    const body = $('dead-letters');
    body.replaceChildren();
    page.data.forEach((n) => {
      const tr = row([n.notification_id, n.type, n.grant_id, n.attempts, when(n.received_at),
        el('td', n.last_error, 'message'),
        cellWith(button('Replay', 'replay', () => replayOne(n.notification_id)))]);
      tr.dataset.notificationId = n.notification_id;
      body.appendChild(tr);
    });
  }

  async function replayOne(id) {
    clearError();
    try {
      await api('POST', '/admin/notifications/' + encodeURIComponent(id) + '/replay');
      $('bulk-result').textContent = 'Notification ' + id + ' replayed.';
      await Promise.all([loadDeadLetters(), loadSummary()]);
    } catch (e) {
      showError(e);
    }
  }

  async function replayBulk(event) {
    event.preventDefault();
    clearError();
    const filter = {};
    [['type', 'bulk-type'], ['grant_id', 'bulk-grant'], ['from', 'bulk-from'], ['to', 'bulk-to']].forEach(([field, id]) => {
      const value = $(id).value.trim();
      if (value) {
        filter[field] = value;
      }
    });
    const limit = $('bulk-limit').value.trim();
    if (limit) {
      filter.limit = Number(limit);
    }
    if ($('bulk-all').checked) {
      filter.all = true;
    }
    try {
      const result = await api('POST', '/admin/notifications/replay', filter);
      $('bulk-result').textContent = 'Replayed ' + result.replayed + ' dead letter(s); ' + result.remaining
        + ' more match the filter.';
      await Promise.all([loadDeadLetters(), loadSummary()]);
    } catch (e) {
      showError(e);
    }
  }

  async function loadRuns() {
    let page;
    try {
      page = await api('GET', '/admin/reconcile?limit=50');
    } catch (e) {
      if (e.status === 404) {
        // reconciliation is switched off on this instance
        $('runs').replaceChildren(row(['reconciliation is not served by this instance']));
        return;
      }
      throw e;
    }
    const body = $('runs');
    body.replaceChildren();
    page.data.forEach((r) => {
      const tr = row([r.run_id, r.grant_id, r.calendar_id, r.status, r.dry_run ? 'yes' : 'no', r.planned, when(r.queued_at),
        el('td', r.error, 'message'), cellWith(button('Show plan', 'show-plan', () => showPlan(r.run_id)))]);
      tr.dataset.runId = r.run_id;
      body.appendChild(tr);
    });
  }

  async function showPlan(runId) {
    clearError();
    try {
      const run = await api('GET', '/admin/reconcile/' + encodeURIComponent(runId));
      $('plan-title').textContent = 'Run ' + run.run_id;
      definitions($('plan-details'), [
        ['Grant', run.grant_id], ['Calendar', run.calendar_id], ['Status', run.status],
        ['Dry run', run.dry_run ? 'yes' : 'no'], ['Trigger', run.trigger], ['Events seen', run.events_seen],
        ['Created', run.created], ['Updated', run.updated], ['Deleted', run.deleted], ['Conflicts', run.conflicts],
        ['Skipped', run.skipped], ['Error', run.error], ['Started', when(run.started_at)], ['Finished', when(run.finished_at)],
      ]);
      const items = $('plan-items');
      items.replaceChildren();
      (run.planned || []).forEach((p) => items.appendChild(row([p.action, p.record_id, p.nylas_event_id])));
      if (!run.planned || run.planned.length === 0) {
        items.appendChild(row(['no planned changes (a plan is kept for dry runs)', '', '']));
      }
      $('plan').hidden = false;
    } catch (e) {
      showError(e);
    }
  }

  async function refresh() {
    clearError();
    try {
      await loadSummary(); // the first call checks the token
      showConsole();
      await Promise.all([loadGrants(false), loadDeadLetters(), loadRuns()]);
    } catch (e) {
      showError(e);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('token-form').addEventListener('submit', (event) => {
      event.preventDefault();
      window.sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
      $('token').value = '';
      refresh();
    });
    $('forget-token').addEventListener('click', () => {
      window.sessionStorage.removeItem(TOKEN_KEY);
      showLogin();
    });
    $('refresh').addEventListener('click', refresh);
    $('grant-state').addEventListener('change', () => loadGrants(false).catch(showError));
    $('grants-more').addEventListener('click', () => loadGrants(true).catch(showError));
    $('bulk-form').addEventListener('submit', replayBulk);
    if (token()) {
      refresh();
    } else {
      showLogin();
    }
  });
}());
