#!/usr/bin/python3
# The web console in a real headless Chromium (Debian's chromium,
# chromium-driver, python3-selenium), driven by t/40-console.t against the
# real stack.  It talks to the Perl test over stdin/stdout, one line each:
#   ok <name> | not ok <name> | diag <text>     results, shown by prove
#   req <json array>                            asks the test to act
#                                               (otactl, a device change,
#                                               Redis down/up); one JSON
#                                               line answers
#   done                                        the end
#
# usage: console.py BASE TOKEN OUTDIR JSON-ARGS
#   JSON-ARGS: {"batch": id, "verify": id, "pkg_verify": id, "product": p,
#               "changed": device that the "change" request moves,
#               "pkg_aux": a package no batch uses yet (the form's batch),
#               "viewer": a viewer's token, "upload": a firmware file,
#               "upload_bad": a file of an ending the platform refuses}

import hashlib
import json
import os
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

BASE, TOKEN, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
ARGS = json.loads(sys.argv[4])
CONSOLE = BASE + '/ota/console/?refresh=1'
DEADLINE = time.time() + 300
failures = 0


def say(line):
    sys.stdout.write(line.replace('\n', ' ') + '\n')
    sys.stdout.flush()


def check(cond, name, detail=''):
    global failures
    say(('ok ' if cond else 'not ok ') + name)
    if not cond:
        failures += 1
        if detail:
            say('diag ' + str(detail)[:2000])
    return cond


def req(*args):
    say('req ' + json.dumps(list(args)))
    line = sys.stdin.readline()
    if not line:
        raise SystemExit('the test went away')
    return json.loads(line)


def otactl_json(*args):
    r = req('otactl', '--json', *args)
    if r['rc'] != 0:
        raise AssertionError('otactl %s: %s' % (' '.join(args), r['err']))
    return json.loads(r['out'])


def api(path, token=TOKEN, method='GET', body=None, ctype=None):
    headers = {'Authorization': 'Bearer ' + token}
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
        ctype = 'application/json'
    if ctype:
        headers['Content-Type'] = ctype
    rq = urllib.request.Request(BASE + '/ota/admin/' + path, data=body, method=method,
                                headers=headers)
    try:
        with urllib.request.urlopen(rq, timeout=10) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b'null')


def multipart(fields, files=()):
    """a multipart/form-data body as a browser sends it: fields, then files"""
    b = 'console-test-boundary-7d1f'
    out = []
    for k, v in fields:
        out.append(('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                    % (b, k, v)).encode())
    for k, path in files:
        with open(path, 'rb') as f:
            data = f.read()
        out.append(('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                    'Content-Type: application/octet-stream\r\n\r\n'
                    % (b, k, os.path.basename(path))).encode() + data + b'\r\n')
    out.append(('--%s--\r\n' % b).encode())
    return b''.join(out), 'multipart/form-data; boundary=' + b


def skip(why):
    say('skip ' + why)


# ---- the formatting the console promises (console/js/dom.js) -----------------

def fmt_int(n):
    return '{:,}'.format(n)


def fmt_rate(r):
    return '—' if r is None else '%.2f %%' % (r * 100)


def fmt_bytes(n):
    u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
    i, v = 0, float(n)
    while v >= 1024 and i < len(u) - 1:
        v /= 1024
        i += 1
    return ('%.1f' % v if i else '%d' % n) + ' ' + u[i]


def fmt_percent(p):
    v = round(p * 100) / 100
    return ('%d' % v if v == int(v) else ('%g' % v)) + ' %'


def bucket(progress):
    return 10 if progress >= 100 else int(progress // 10)


# ---- the browser --------------------------------------------------------------------

def browser():
    o = webdriver.ChromeOptions()
    o.binary_location = '/usr/bin/chromium'
    # the flags that work on a closed network, as root, without a GPU
    for a in ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic',
              '--no-first-run', '--disable-background-networking',
              '--disable-component-update', '--disable-sync',
              '--disable-dev-shm-usage', '--window-size=1280,900',
              '--user-data-dir=' + tempfile.mkdtemp(prefix='chromium-', dir=OUT)]:
        o.add_argument(a)
    o.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    log = os.path.join(OUT, 'chromedriver.log')
    try:                                    # selenium 4.8 (bookworm) names it log_path
        svc = Service('/usr/bin/chromedriver', log_path=log)
    except TypeError:
        svc = Service('/usr/bin/chromedriver', log_output=log)
    return webdriver.Chrome(service=svc, options=o)


def wait(d, fn, secs=10, what='condition'):
    end = min(time.time() + secs, DEADLINE)
    last = None
    while time.time() < end:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:            # the page is being built
            last = e
        time.sleep(0.1)
    raise AssertionError('timed out waiting for %s%s' % (what, ': %r' % last if last else ''))


def waited(d, fn, secs=10, what='condition'):
    """wait(), as a truth a check() reports rather than an abort"""
    try:
        wait(d, fn, secs=secs, what=what)
        return True
    except AssertionError:
        return False


def js(d, script, *args):
    return d.execute_script(script, *args)


def text(d, css):
    return d.find_element(By.CSS_SELECTOR, css).text


def shot(d, name, full=True):
    """a screenshot of the whole page (window grown to its height)"""
    size = d.get_window_size()
    try:                                     # no hover left on what was clicked
        ActionChains(d).move_to_element_with_offset(d.find_element(By.TAG_NAME, 'main'), 0, 0).perform()
    except Exception:
        pass
    if full:
        h = js(d, 'return Math.ceil(document.documentElement.scrollHeight)')
        d.set_window_size(size['width'], max(size['height'], min(h + 120, 4000)))
        time.sleep(0.3)
    d.save_screenshot(os.path.join(OUT, name + '.png'))
    if full:
        d.set_window_size(size['width'], size['height'])


INK = '''
const c = arguments[0];
const g = c.getContext('2d');
if (!c.width || !c.height) return 0;
const px = g.getImageData(0, 0, c.width, c.height).data;
let n = 0;
for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
return n;
'''


def chart_data(d, css):
    return js(d, '''const c = document.querySelector(arguments[0]);
                    const ch = window.Chart && Chart.getChart(c);
                    return ch ? {labels: ch.data.labels, data: ch.data.datasets[0].data} : null;''', css)


def row_cells(d, tr):
    return {
        'state': tr.find_element(By.CSS_SELECTOR, '[data-cell="state"] .badge').text.lower(),
        'progress': tr.find_element(By.CSS_SELECTOR, '.bar .pct').text,
    }


def goto(d, hash_):
    js(d, 'location.hash = arguments[0]', hash_)


# ---- the tests ---------------------------------------------------------------------------

def test_signin(d):
    d.get(CONSOLE)
    wait(d, lambda: '#/signin' in d.current_url, what='the sign-in page')
    check(text(d, 'h1') == 'Sign in', 'not signed in: the sign-in page')
    check(d.find_element(By.ID, 'token').get_attribute('type') == 'password',
          'the token field hides what is typed')
    shot(d, 'signin', full=False)

    status, body = api('batches', token='wrong-token')
    check(status == 401, 'the API refuses a wrong token (%s)' % status)
    d.find_element(By.ID, 'token').send_keys('wrong-token')
    d.find_element(By.ID, 'signin-submit').click()
    msg = wait(d, lambda: text(d, '#signin-error'), what='the refusal')
    check(body['message'] in msg, "a wrong token: the API's message next to the form",
          '%r not in %r' % (body['message'], msg))
    check('#/signin' in d.current_url, 'still on sign-in')
    check(js(d, 'return sessionStorage.length') == 0, 'a refused token is not kept')
    shot(d, 'signin-refused', full=False)

    field = d.find_element(By.ID, 'token')
    field.clear()
    field.send_keys(TOKEN)
    field.send_keys(Keys.ENTER)              # the keyboard submits the form
    wait(d, lambda: '#/batches' in d.current_url, what='the batches page')
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, 'tbody tr[data-key]'), what='batch rows')
    check(js(d, 'return Object.values(sessionStorage)') == [TOKEN],
          'signed in: the token is in sessionStorage')
    check(js(d, 'return document.cookie') == '', 'no cookie')


def test_batches(d):
    rows = d.find_elements(By.CSS_SELECTOR, 'tbody tr[data-key]')
    listed = otactl_json('batch', 'list')
    ids = [r.get_attribute('data-key') for r in rows]
    check(ids == [b['id'] for b in sorted(listed, key=lambda b: -b['created'])],
          'batches: newest first, as otactl lists them', ids)
    b = otactl_json('batch', 'show', ARGS['batch'])
    first = rows[0]
    check(first.find_element(By.CSS_SELECTOR, 'a').text == b['name'],
          'a name with markup is shown as text', first.find_element(By.CSS_SELECTOR, 'a').text)
    check(not first.find_elements(By.CSS_SELECTOR, 'a b, a img'), 'and makes no element')
    check(js(d, 'return window.__xss === undefined'), 'and runs nothing')
    check(first.find_element(By.CSS_SELECTOR, '.badge').text.lower() == b['state'], 'batch state')
    check(first.find_element(By.CSS_SELECTOR, '[data-cell="success_rate"]').text == fmt_rate(b['success_rate']),
          'success rate as otactl computes it')
    check(first.find_element(By.CSS_SELECTOR, '.bar .pct').text == fmt_rate(b['completion']),
          'completion bar')
    shot(d, 'batches')


def batch_numbers(d, b):
    """the batch page's numbers against otactl batch show --json --devices"""
    ok = True
    c = b['counts']
    cards = {f: text(d, '[data-field="%s"]' % f) for f in
             ['total', 'succeeded', 'failed', 'in_progress', 'success_rate', 'completion']}
    want = {'total': fmt_int(b['total']), 'succeeded': fmt_int(c['succeeded']),
            'failed': fmt_int(c['failed']),
            'in_progress': fmt_int(sum(c[s] for s in ['notified', 'downloading', 'downloaded',
                                                      'installing'])),
            'success_rate': fmt_rate(b['success_rate']), 'completion': fmt_rate(b['completion'])}
    ok &= check(cards == want, 'batch page: total, counts and rates equal otactl', (cards, want))
    counts = {s: text(d, '[data-count="%s"]' % s) for s in c}
    ok &= check(counts == {s: fmt_int(n) for s, n in c.items()},
                'batch page: tasks per state equal otactl', (counts, c))
    fails = {r.find_element(By.CSS_SELECTOR, '[data-cell="reason"]').text:
             r.find_element(By.CSS_SELECTOR, '[data-cell="count"]').text
             for r in d.find_elements(By.CSS_SELECTOR, '#fail-title ~ .table-wrap tr[data-key]')}
    ok &= check(fails == {k.replace('_', ' '): fmt_int(v) for k, v in b['failures'].items()},
                'batch page: failure reasons equal otactl', (fails, b['failures']))
    rows = {r.get_attribute('data-key'): row_cells(d, r)
            for r in d.find_elements(By.CSS_SELECTOR, '#dev-title ~ .table-wrap tr[data-key]')}
    want = {x['device']: {'state': x['state'], 'progress': fmt_percent(x['progress'])}
            for x in b['devices']}
    ok &= check(rows == want, 'batch page: every device with its state and progress', (rows, want))
    hist = chart_data(d, '#hist-title ~ .chart-box canvas')
    expect = [0] * 11
    for x in b['devices']:
        expect[bucket(x['progress'])] += 1
    ok &= check(hist is not None and hist['data'] == expect,
                'histogram: the devices per progress bucket', (hist, expect))
    return ok


def test_batch(d):
    d.find_element(By.CSS_SELECTOR, 'tbody tr[data-key="%s"] a' % ARGS['batch']).click()
    wait(d, lambda: text(d, '[data-field="total"]') not in ('—', ''), what='the batch')
    b = otactl_json('batch', 'show', ARGS['batch'], '--devices')
    wait(d, lambda: len(d.find_elements(By.CSS_SELECTOR, '#dev-title ~ .table-wrap tr[data-key]'))
         == len(b['devices']), what='the devices table')
    batch_numbers(d, b)
    for css, name in [('#states-title ~ .chart-box canvas', 'tasks per state'),
                      ('#hist-title ~ .chart-box canvas', 'download progress')]:
        ink = js(d, INK, d.find_element(By.CSS_SELECTOR, css))
        check(ink > 500, 'chart drawn: %s (%d pixels of ink)' % (name, ink))
    check(d.find_element(By.CSS_SELECTOR, '[aria-labelledby="waves-title"]').get_attribute('hidden')
          is not None, 'no waves in this batch: no waves panel')
    shot(d, 'batch')


def test_live(d):
    dev = ARGS['changed']
    marks = '''document.querySelector('#dev-title ~ .table-wrap tbody').__mark = 1;
               document.querySelector('tr[data-key="%s"]').__mark = 1;
               document.querySelector('#states-title ~ .chart-box canvas').__mark = 1;
               document.querySelector('[data-count="downloading"]').__mark = 1;''' % dev
    js(d, marks)
    before = row_cells(d, d.find_element(By.CSS_SELECTOR, 'tr[data-key="%s"]' % dev))
    req('change')
    b = otactl_json('batch', 'show', ARGS['batch'], '--devices')
    want = [x for x in b['devices'] if x['device'] == dev][0]
    want = {'state': want['state'], 'progress': fmt_percent(want['progress'])}
    # the columns of a row are read by one HMGET each: a refresh that runs
    # while the worker applies the change may show half of it, once
    row = lambda: row_cells(d, d.find_element(By.CSS_SELECTOR, 'tr[data-key="%s"]' % dev))
    try:
        after = wait(d, lambda: (lambda r: r if r == want else None)(row()), secs=15,
                     what='the change on the page')
    except AssertionError:
        after = row()
    check(after == want and before != want,
          'live refresh: the change made meanwhile is shown (%s -> %s)' % (before, after),
          (after, want))
    wait(d, lambda: text(d, '[data-count="downloading"]') == fmt_int(b['counts']['downloading']),
         what='the counts')
    check(batch_numbers(d, b), 'live refresh: the page equals otactl again')
    kept = js(d, '''return [document.querySelector('#dev-title ~ .table-wrap tbody').__mark,
                            document.querySelector('tr[data-key="%s"]').__mark,
                            document.querySelector('#states-title ~ .chart-box canvas').__mark,
                            document.querySelector('[data-count="downloading"]').__mark]''' % dev)
    check(kept == [1, 1, 1, 1], 'live refresh updates in place: same table, row, chart and cell',
          kept)


def test_search(d):
    box = d.find_element(By.ID, 'device-search')
    box.send_keys('05')
    wait(d, lambda: [r.get_attribute('data-key') for r in
                     d.find_elements(By.CSS_SELECTOR, '#dev-title ~ .table-wrap tr[data-key]')]
         == ['t05'], what='the search result')
    check('q=05' in d.current_url, 'the search is in the address')
    check('matching "05"' in text(d, '#dev-title ~ p.note'), 'and says how many match')
    box.send_keys(Keys.BACKSPACE, Keys.BACKSPACE)
    wait(d, lambda: len(d.find_elements(By.CSS_SELECTOR, '#dev-title ~ .table-wrap tr[data-key]')) > 1,
         what='the whole list again')
    check(True, 'an empty search shows the page again')


def test_packages(d):
    d.find_element(By.CSS_SELECTOR, 'nav a[data-nav="packages"]').click()
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, 'tbody tr[data-key]'), what='packages')
    row = d.find_element(By.CSS_SELECTOR, 'tr[data-key="%s"]' % ARGS['pkg_verify'])
    pkg = otactl_json('package', 'show', ARGS['pkg_verify'])
    check(row.find_element(By.CSS_SELECTOR, '.badge').text.replace(' ', '_').lower() == pkg['state'],
          'package state (%s)' % pkg['state'])
    vp = pkg['verify_progress']
    bar = row.find_element(By.CSS_SELECTOR, '[data-cell="verify"] .bar')
    check(bar.find_element(By.CSS_SELECTOR, '.pct').text == fmt_rate(vp['completion']),
          'verify progress', bar.text)
    check('%d of %d succeeded' % (vp['counts']['succeeded'], vp['total'])
          in row.find_element(By.CSS_SELECTOR, '[data-cell="verify"] a').text,
          'verify batch counts')
    shot(d, 'packages')


def test_versions(d):
    d.find_element(By.CSS_SELECTOR, 'nav a[data-nav="versions"]').click()
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, 'tbody tr[data-key]'), what='versions')
    st = otactl_json('stats', 'versions', '--product', ARGS['product'], '--module', 'default')
    want = st['modules'][0]['versions']
    got = {r.get_attribute('data-key'): r.find_element(By.CSS_SELECTOR, '[data-cell="devices"]').text
           for r in d.find_elements(By.CSS_SELECTOR, 'tbody tr[data-key]')}
    want = {v: fmt_int(n if isinstance(n, int) else n['devices']) for v, n in want.items()}
    check(got == want, 'versions: devices per version equal otactl stats versions', (got, want))
    canvas = d.find_element(By.CSS_SELECTOR, '.chart-box canvas')
    check(js(d, INK, canvas) > 500, 'versions chart drawn')
    check(d.find_element(By.ID, 'ver-product').get_attribute('value') == ARGS['product'],
          'the product chosen')
    shot(d, 'versions')


def test_device(d):
    box = d.find_element(By.ID, 'find-device')
    box.send_keys('t04', Keys.ENTER)
    wait(d, lambda: '#/device/t04' in d.current_url, what='the device page')
    row = wait(d, lambda: d.find_element(By.CSS_SELECTOR, 'tr[data-key="%s"]' % ARGS['batch']),
               what='its task')
    show = otactl_json('device', 'show', 't04')
    task = [t for t in show['tasks'] if t['batch'] == ARGS['batch']][0]
    check(row.find_element(By.CSS_SELECTOR, '[data-cell="state"] .badge').text.lower() == task['state'],
          'device page: the task state as otactl device show')
    check(row.find_element(By.CSS_SELECTOR, '[data-cell="reason"]').text == task['reason'].replace('_', ' '),
          'device page: the failure reason')
    ver = d.find_element(By.CSS_SELECTOR, 'tr[data-key="default"] [data-cell="version"]').text
    check(ver == show['versions']['default'], 'device page: the current version (%s)' % ver)
    check(len(d.find_elements(By.CSS_SELECTOR, '#dt-title ~ .table-wrap tr[data-key]')) == len(show['tasks']),
          'device page: every task')
    shot(d, 'device')


def test_keyboard_and_labels(d):
    goto(d, '#/batches')
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, 'tbody tr[data-key] a'), what='batch links')
    target = d.find_element(By.CSS_SELECTOR, 'tbody tr[data-key="%s"] a' % ARGS['batch'])
    js(d, 'document.activeElement.blur(); window.scrollTo(0, 0)')
    reached = False
    for _ in range(40):
        ActionChains(d).send_keys(Keys.TAB).perform()
        if d.switch_to.active_element == target:
            reached = True
            break
    check(reached, 'keyboard: Tab reaches a batch link')
    if reached:
        ActionChains(d).send_keys(Keys.ENTER).perform()
        wait(d, lambda: '#/batch/' in d.current_url, what='the batch page by keyboard')
        check(True, 'keyboard: Enter opens it')
    for page in ['#/batches', '#/batch/' + ARGS['batch'], '#/packages', '#/versions', '#/device/t01',
                 '#/batches/new']:
        goto(d, page)
        time.sleep(1.2)
        unnamed = js(d, '''return Array.from(document.querySelectorAll('input, select, textarea, button'))
          .filter(e => e.offsetParent !== null)
          .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                       && !e.getAttribute('aria-labelledby')
                       && !(e.tagName === 'BUTTON' && e.textContent.trim()))
          .map(e => e.outerHTML.slice(0, 120));''')
        check(unnamed == [], 'every control has a label on %s' % page, unnamed)


def test_phone(d):
    d.set_window_size(390, 844)
    try:
        for page, name, ready in [('#/batches', 'batches-phone', 'tbody tr[data-key]'),
                                  ('#/batch/' + ARGS['batch'], 'batch-phone', 'tbody tr[data-key]'),
                                  ('#/batches/new', 'create-phone', '#batch-form'),
                                  ('#/packages', 'packages-phone', '#upload')]:
            goto(d, page)
            wait(d, lambda: d.find_elements(By.CSS_SELECTOR, ready), what=name)
            if name == 'packages-phone':
                d.find_element(By.CSS_SELECTOR, '#upload > summary').click()
            time.sleep(0.8)
            over = js(d, 'return document.documentElement.scrollWidth - window.innerWidth')
            check(over <= 1, 'phone width: %s fits the screen (%d px over)' % (page, over))
            check(d.find_element(By.CSS_SELECTOR, 'nav a[data-nav="packages"]').is_displayed(),
                  'phone width: the navigation is there')
            shot(d, name)
    finally:
        d.set_window_size(1280, 900)


def test_redis_down(d):
    goto(d, '#/batch/' + ARGS['batch'])
    wait(d, lambda: text(d, '[data-field="total"]') not in ('—', ''), what='the batch')
    title = text(d, 'h1')
    req('redis-stop')
    banner = wait(d, lambda: (lambda e: e.text if e.is_displayed() else None)(
        d.find_element(By.CSS_SELECTOR, '.banner')), secs=15, what='the banner')
    check('Redis' in banner, 'Redis down: a banner says so', banner)
    check(text(d, 'h1') == title and
          len(d.find_elements(By.CSS_SELECTOR, '#dev-title ~ .table-wrap tr[data-key]')) > 1,
          'Redis down: the page keeps what it showed (no blank page)')
    shot(d, 'redis-down', full=False)
    goto(d, '#/packages')                    # a page opened while Redis is away
    time.sleep(1.5)
    check(text(d, 'h1') == 'Packages' and d.find_element(By.CSS_SELECTOR, '.banner').is_displayed(),
          'Redis down: a new page shows its layout and the banner')
    req('redis-start')
    wait(d, lambda: not d.find_element(By.CSS_SELECTOR, '.banner').is_displayed(), secs=40,
         what='the banner to go')
    check(True, 'Redis back: the banner goes by itself')
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, 'tbody tr[data-key]'), secs=10,
         what='packages after the outage')
    check(True, 'Redis back: the page filled itself')


def test_token_refused_later(d):
    goto(d, '#/batches')
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, 'tbody tr[data-key]'), what='batches')
    js(d, "sessionStorage.setItem('ota-console-token', 'a-token-that-expired')")
    wait(d, lambda: '#/signin' in d.current_url, secs=10, what='sign-in')
    status, body = api('batches', token='a-token-that-expired')
    msg = wait(d, lambda: text(d, '#signin-error'), what='the message')
    check(body['message'] in msg, "a token refused later: back to sign-in with the API's message", msg)
    check(js(d, 'return sessionStorage.length') == 0, 'and the token is dropped')


# ---- the write controls (operators), and a viewer who sees none ----------------

WRITE_CONTROLS = ('#create-batch-link, #batch-pause, #batch-resume, #batch-cancel-ask, '
                  '#batch-cancel, #batch-form, #upload, #upload-form, [data-slot] > *')

UNLABELED = '''return Array.from(document.querySelectorAll('input, select, textarea, button'))
  .filter(e => e.offsetParent !== null)
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !e.getAttribute('aria-labelledby')
               && !(e.tagName === 'BUTTON' && e.textContent.trim()))
  .map(e => e.outerHTML.slice(0, 120));'''


def put(d, field_id, value):
    el = d.find_element(By.ID, field_id)
    el.clear()
    if value:
        el.send_keys(value)
    return el


def unchanged(before):
    """Redis as it was (t/40's snapshot: a digest per key); else the keys that differ"""
    now = req('snapshot')['sum']
    diff = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    return diff == [], diff


def batch_state(bid):
    return req('batch-state', bid)['state']


def redis_state_is(bid, want, secs=15):
    try:
        wait(None, lambda: batch_state(bid) == want, secs=secs, what='state %s' % want)
        return True
    except AssertionError:
        return False


def test_create_batch(d):
    goto(d, '#/batches')
    link = wait(d, lambda: d.find_element(By.ID, 'create-batch-link'), what='the create link')
    check(link.is_displayed(), 'operator: the batches page offers "Create a batch"')
    check('operator' in text(d, '.who'), 'the header names the role', text(d, '.who'))
    link.click()
    wait(d, lambda: '#/batches/new' in d.current_url and d.find_element(By.ID, 'batch-form'),
         what='the form')
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, '#bt-packages option[value="%s"]' % ARGS['pkg_aux']),
         what='the packages to choose from')
    check(js(d, UNLABELED) == [], 'create form: every control has a label', js(d, UNLABELED))
    d.find_element(By.ID, 'bt-type-verify').click()
    put(d, 'bt-package', ARGS['pkg_aux'])
    check(ARGS['pkg_aux'].split('-')[0] in text(d, '#bt-package-help') or 'aux' in text(d, '#bt-package-help'),
          'the chosen package is described', text(d, '#bt-package-help'))
    put(d, 'bt-name', 'console canary')
    put(d, 'bt-devices', 't01, t02')
    put(d, 'bt-from', '1.0')                 # not X.Y.Z: refused
    before = [b['id'] for b in otactl_json('batch', 'list')]
    snap = req('snapshot')['sum']
    d.find_element(By.ID, 'bt-submit').click()
    msg = wait(d, lambda: text(d, '#bt-error'), what='the refusal')
    same, diff = unchanged(snap)
    check(same, 'a refused form changes nothing in Redis', diff)
    check([b['id'] for b in otactl_json('batch', 'list')] == before, 'and makes no batch')
    # the same body straight to the API: the page shows its words
    status, answer = api('batches', method='POST', body={
        'type': 'verify', 'package': ARGS['pkg_aux'], 'name': 'console canary',
        'devices': ['t01', 't02'], 'from_version': '1.0', 'protocol': 'https',
        'method': 'static', 'push': False})
    check(status == 400 and answer['message'] in msg and '1.0' in msg,
          "a bad version in the form: the API's message next to it", (status, answer, msg))
    check('#/batches/new' in d.current_url and
          d.find_element(By.ID, 'bt-name').get_attribute('value') == 'console canary',
          'the form stays with what was typed')
    err = d.find_element(By.ID, 'bt-error')
    check(err.get_attribute('role') == 'alert' and
          d.find_element(By.ID, 'batch-form').get_attribute('aria-describedby') == 'bt-error',
          'the message is an alert the form points at')
    shot(d, 'create-refused')

    put(d, 'bt-from', '')
    shot(d, 'create-batch')
    d.find_element(By.ID, 'bt-submit').click()
    wait(d, lambda: '#/batch/' in d.current_url, secs=20, what='the new batch page')
    bid = urllib.parse.unquote(d.current_url.split('#/batch/')[1].split('?')[0])
    flash = wait(d, lambda: text(d, '.flash'), what='what the form did')
    check(bid in flash and '2 tasks' in flash, 'the new batch opens, saying what was made', flash)
    b = otactl_json('batch', 'show', bid)
    check(b['type'] == 'verify' and b['package'] == ARGS['pkg_aux'] and b['total'] == 2
          and b['name'] == 'console canary' and b['protocol'] == 'https' and b['push'] is False,
          'the batch as the form asked for it (otactl batch show)', b)
    after = [x['id'] for x in otactl_json('batch', 'list')]
    check(bid in after and bid not in before and len(after) == len(before) + 1,
          'one batch more in otactl batch list')
    goto(d, '#/batches')
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, 'tbody tr[data-key="%s"]' % bid), what='the list')
    check(d.find_elements(By.CSS_SELECTOR, 'tbody tr[data-key]')[0].get_attribute('data-key') == bid,
          'and it is first in the batches list')
    return bid


def test_batch_actions(d, bid):
    goto(d, '#/batch/' + bid)
    pause = wait(d, lambda: d.find_element(By.ID, 'batch-pause'), what='the pause button')
    check(redis_state_is(bid, 'running') and not d.find_elements(By.ID, 'batch-resume'),
          'a running batch offers pause (not resume)')
    check(d.find_element(By.ID, 'batch-cancel-ask').is_displayed(), 'and cancel')
    shot(d, 'batch-actions')

    pause.click()
    check(redis_state_is(bid, 'paused'), 'pause: Redis shows the batch paused')
    wait(d, lambda: text(d, '.page-head .badge').lower() == 'paused', what='the page to say paused')
    # the badge can follow a refresh a moment before the action's own line
    check(waited(d, lambda: 'Paused' in text(d, '#batch-action-status'), what='the action line'),
          'the page says it paused',
          text(d, '#batch-action-status'))
    resume = wait(d, lambda: d.find_element(By.ID, 'batch-resume'), what='the resume button')
    check(not d.find_elements(By.ID, 'batch-pause'), 'a paused batch offers resume (not pause)')

    resume.click()
    check(redis_state_is(bid, 'running'), 'resume: Redis shows the batch running')
    wait(d, lambda: text(d, '.page-head .badge').lower() == 'running', what='the page to say running')
    wait(d, lambda: d.find_element(By.ID, 'batch-pause'), what='pause again')

    # cancel asks once more; "Keep it" changes nothing
    d.find_element(By.ID, 'batch-cancel-ask').click()
    no = wait(d, lambda: (lambda e: e if e.is_displayed() else None)(d.find_element(By.ID, 'batch-cancel-no')),
              what='the question')
    check(d.switch_to.active_element == no, 'cancel asks first, focus on "Keep it"')
    no.click()
    time.sleep(0.5)
    check(batch_state(bid) == 'running' and d.find_element(By.ID, 'batch-cancel-ask').is_displayed(),
          '"Keep it" keeps the batch running')
    d.find_element(By.ID, 'batch-cancel-ask').click()
    yes = wait(d, lambda: (lambda e: e if e.is_displayed() else None)(d.find_element(By.ID, 'batch-cancel')),
               what='the confirm button')
    yes.click()
    check(redis_state_is(bid, 'cancelled'), 'cancel: Redis shows the batch cancelled')
    check(waited(None, lambda: otactl_json('batch', 'show', bid)['counts']['cancelled'] == 2, secs=15,
                 what='the tasks cancelled'), 'and its two tasks cancelled', otactl_json('batch', 'show', bid)['counts'])
    wait(d, lambda: text(d, '.page-head .badge').lower() == 'cancelled', what='the page to say cancelled')
    wait(d, lambda: not d.find_elements(By.CSS_SELECTOR, '#batch-pause, #batch-cancel-ask'),
         what='no action left')
    check(waited(d, lambda: 'Cancelled' in text(d, '#batch-action-status'), what='the action line'),
          'a cancelled batch offers nothing, says it was cancelled',
          text(d, '#batch-action-status'))
    shot(d, 'batch-cancel')
    status, audit = api('audit?limit=20')
    acts = [(e['action'], e['status']) for e in audit.get('entries', []) if e.get('object') == bid]
    check(('batch.pause', 200) in acts and ('batch.resume', 200) in acts and ('batch.cancel', 200) in acts,
          "the audit trail has the console's writes", acts)


def test_rollout_form(d):
    """the rollout options go as fields of POST batches, when filled"""
    probe = {'type': 'verify', 'package': ARGS['pkg_aux'], 'devices': ['t05'], 'waves': '10%,5%'}
    st, ans = api('batches', method='POST', body=probe)
    takes = not (st == 400 and 'unknown field "waves"' in ans.get('message', ''))
    goto(d, '#/batches/new')
    wait(d, lambda: d.find_element(By.ID, 'batch-form'), what='the form')
    d.find_element(By.ID, 'bt-type-verify').click()
    put(d, 'bt-package', ARGS['pkg_aux'])
    put(d, 'bt-name', 'console waves')
    put(d, 'bt-devices', 't05 t06')
    d.find_element(By.CSS_SELECTOR, '#bt-rollout > summary').click()
    wait(d, lambda: d.find_element(By.ID, 'bt-waves').is_displayed(), what='the rollout options')
    check(js(d, UNLABELED) == [], 'rollout options: every control has a label', js(d, UNLABELED))
    put(d, 'bt-waves', '1,2')
    put(d, 'bt-timeout', '30')
    before = [b['id'] for b in otactl_json('batch', 'list')]
    d.find_element(By.ID, 'bt-submit').click()
    # POST batches takes the rollout options (issue 19): a refusal here is a failure
    check(takes, 'POST batches takes the rollout options', ans)
    wait(d, lambda: '#/batch/' in d.current_url, secs=20, what='the new batch page')
    bid = urllib.parse.unquote(d.current_url.split('#/batch/')[1].split('?')[0])
    b = otactl_json('batch', 'show', bid)
    check(len(b.get('waves') or []) == 2 and b.get('timeout') == 30 and b['total'] == 2,
          'a rollout batch from the form: its waves and timeout (otactl batch show)', b)
    wait(d, lambda: d.find_element(By.CSS_SELECTOR, '[aria-labelledby="waves-title"]').is_displayed(),
         what='the waves panel')
    check(True, 'and its page shows the waves')


def upload_live():
    """POST packages answers something other than 501 (issue 19's upload)"""
    body, ctype = multipart([('product', ARGS['product'])])
    status, answer = api('packages', method='POST', body=body, ctype=ctype)
    return status != 501, status, answer


def test_upload(d):
    live, status, answer = upload_live()
    goto(d, '#/packages')
    summary = wait(d, lambda: d.find_element(By.CSS_SELECTOR, '#upload > summary'), what='the upload form')
    summary.click()
    wait(d, lambda: d.find_element(By.ID, 'up-files').is_displayed(), what='the form open')
    st, cfg = api('config')
    limits = wait(d, lambda: (lambda e: e if e.get_attribute('data-max-size') else None)(
        d.find_element(By.ID, 'up-limits')), what='the limits')
    exts = cfg['package.extensions'].replace(',', ' ').split()
    check(limits.get_attribute('data-max-size') == str(cfg['package.max_size'])
          and limits.get_attribute('data-extensions') == ' '.join(exts)
          and fmt_bytes(cfg['package.max_size']) in limits.text and exts[0] in limits.text,
          'the upload form shows the limits of GET config', (limits.text, cfg))
    check(js(d, UNLABELED) == [], 'upload form: every control has a label', js(d, UNLABELED))

    def fill_form(path, version):
        js(d, "document.getElementById('up-files').value = ''")
        d.find_element(By.ID, 'up-files').send_keys(path)
        put(d, 'up-product', ARGS['product'])
        put(d, 'up-module', 'aux')
        put(d, 'up-name', 'aux firmware from the console')
        put(d, 'up-version', version)
        put(d, 'up-ext', 'region=eu')

    before = [p['id'] for p in otactl_json('package', 'list')]
    snap = req('snapshot')['sum']
    fill_form(ARGS['upload_bad'], '3.0.0')
    d.find_element(By.ID, 'up-submit').click()
    msg = wait(d, lambda: text(d, '#up-error'), what='the ending refused')
    check('package.extensions' in msg and 'notes.txt' in msg,
          'a file of a refused ending is stopped before it is sent, naming the setting', msg)

    fill_form(ARGS['upload'], '3.0')         # a bad version: the API's refusal
    d.find_element(By.ID, 'up-submit').click()
    msg = wait(d, lambda: (lambda t: t if 'refused' in t else None)(text(d, '#up-error')),
               secs=20, what="the API's refusal")
    same, diff = unchanged(snap)
    check(same and [p['id'] for p in otactl_json('package', 'list')] == before,
          'a refused upload changes nothing', diff)
    # POST packages is the real upload (issue 19): a 501 here is a failure
    check(live, 'POST packages takes uploads', answer)
    body, ctype = multipart([('product', ARGS['product']), ('module', 'aux'),
                             ('name', 'aux firmware from the console'), ('version', '3.0'),
                             ('type', 'full'), ('sign', 'sha256'), ('ext', 'region=eu')],
                            [('file', ARGS['upload'])])
    st2, refused = api('packages', method='POST', body=body, ctype=ctype)
    check(st2 == 400 and refused['message'] in msg, "a bad version in the upload form: the API's message",
          (st2, refused, msg))
    shot(d, 'upload-refused')

    fill_form(ARGS['upload'], '3.0.0')
    d.find_element(By.ID, 'up-submit').click()
    done = wait(d, lambda: (lambda t: t if 'Uploaded' in t else None)(text(d, '#up-status')),
                secs=30, what='the upload')
    pid = done.split('package ')[1].split('.')[0] if 'package ' in done else ''
    pkg = otactl_json('package', 'show', pid) if pid else {}
    with open(ARGS['upload'], 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    files = pkg.get('files') or [{}]
    check(pkg.get('version') == '3.0.0' and pkg.get('module') == 'aux'
          and pkg.get('name') == 'aux firmware from the console' and pkg.get('ext') == {'region': 'eu'}
          and files[0].get('size') == os.path.getsize(ARGS['upload']) and files[0].get('sign') == digest,
          'upload through the form: otactl package show has it, digest and all', (done, pkg))
    sent = d.find_element(By.ID, 'up-progress').get_attribute('data-sent')
    check(int(sent or 0) >= os.path.getsize(ARGS['upload']),
          'the upload showed its progress (%s bytes sent)' % sent)
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, 'tbody tr[data-key="%s"]' % pid), what='its row')
    check(True, 'and the packages list shows it')
    shot(d, 'upload')


def sign_in(d, token):
    goto(d, '#/signin')
    field = wait(d, lambda: d.find_element(By.ID, 'token'), what='sign-in')
    field.clear()
    field.send_keys(token, Keys.ENTER)
    wait(d, lambda: '#/batches' in d.current_url and
         d.find_elements(By.CSS_SELECTOR, 'tbody tr[data-key]'), what='signed in')


def test_viewer(d):
    d.find_element(By.CSS_SELECTOR, '.signout').click()
    wait(d, lambda: '#/signin' in d.current_url, what='signed out')
    sign_in(d, ARGS['viewer'])
    check('viewer' in text(d, '.who') and 'read only' in text(d, '.who'),
          'viewer: the header says read only', text(d, '.who'))
    pages = [('#/batches', 'tbody tr[data-key]'),
             ('#/batch/' + ARGS['batch'], '#dev-title ~ .table-wrap tr[data-key]'),
             ('#/packages', 'tbody tr[data-key]'),
             ('#/versions', 'tbody tr[data-key]'),
             ('#/device/t01', 'tbody tr[data-key]')]
    for page, ready in pages:
        goto(d, page)
        wait(d, lambda: d.find_elements(By.CSS_SELECTOR, ready), what=page)
        time.sleep(0.3)                      # the slots are filled by the refresh waited for
        found = [e.get_attribute('outerHTML')[:100] for e in d.find_elements(By.CSS_SELECTOR, WRITE_CONTROLS)]
        check(found == [], 'viewer: no write control on %s' % page, found)
        if page.startswith('#/batch/'):
            shot(d, 'viewer-batch')
    goto(d, '#/batches/new')
    box = wait(d, lambda: text(d, '.error-box'), what='the create page')
    check('operator' in box and not d.find_elements(By.ID, 'batch-form'),
          'viewer: the create-batch page has no form, says why', box)
    b = ARGS['batch']
    before = batch_state(b)
    status, answer = api('batches/%s/pause' % b, token=ARGS['viewer'], method='POST', body={})
    check(status == 403 and answer.get('message'), 'viewer: a forced POST is 403 (%s)' % answer.get('message'),
          (status, answer))
    check(batch_state(b) == before, 'and changes nothing (%s)' % before)
    # the same from inside the page, with the token the console holds
    got = d.execute_async_script('''const done = arguments[arguments.length - 1];
        fetch('../admin/batches/' + arguments[0] + '/cancel', {method: 'POST', credentials: 'omit',
              headers: {Authorization: 'Bearer ' + sessionStorage.getItem('ota-console-token')}})
          .then(r => done(r.status), e => done(String(e)));''', b)
    check(got == 403 and batch_state(b) == before, 'viewer: a POST from the page is 403 too (%s)' % got)
    d.find_element(By.CSS_SELECTOR, '.signout').click()
    sign_in(d, TOKEN)
    check('operator' in text(d, '.who'), 'signed in again as an operator')


def test_write_refused_later(d):
    """a token refused by a write (not by a read): sign-in with the API's message"""
    goto(d, '#/batches/new')
    wait(d, lambda: d.find_element(By.ID, 'batch-form'), what='the form')
    js(d, "sessionStorage.setItem('ota-console-token', 'a-write-token-that-expired')")
    put(d, 'bt-package', ARGS['pkg_aux'])
    put(d, 'bt-devices', 't03')
    d.find_element(By.ID, 'bt-submit').click()
    wait(d, lambda: '#/signin' in d.current_url, secs=10, what='sign-in')
    status, body = api('batches', token='a-write-token-that-expired', method='POST', body={})
    msg = wait(d, lambda: text(d, '#signin-error'), what='the message')
    check(status == 401 and body['message'] in msg,
          "a write with a token refused: back to sign-in with the API's message", (status, body, msg))
    sign_in(d, TOKEN)


def console_errors(d):
    bad = []
    for e in d.get_log('browser'):
        m = e.get('message', '')
        # the 401 and 503 answers the tests provoke are logged as failed loads
        # and so are the refusals of the write tests (400, 403, 409, 501)
        if e.get('level') == 'SEVERE' and not (
                'Failed to load resource' in m
                and any(' %d ' % c in m + ' ' for c in (400, 401, 403, 409, 501, 503))):
            bad.append(m)
    check(bad == [], 'no script error in the browser console', bad)


def main():
    d = browser()
    try:
        created = []

        def writes(d):
            created.append(test_create_batch(d))
            test_batch_actions(d, created[0])
            test_rollout_form(d)

        for test in [test_signin, test_batches, test_batch, test_live, test_search,
                     test_packages, test_versions, test_device, writes, test_upload,
                     test_viewer, test_keyboard_and_labels, test_phone, test_redis_down,
                     test_write_refused_later, test_token_refused_later]:
            try:
                test(d)
            except Exception as e:
                check(False, test.__name__ + ' ran through', traceback.format_exc())
                try:
                    shot(d, 'failed-' + test.__name__, full=False)
                except Exception:
                    pass
        console_errors(d)
    finally:
        d.quit()
    say('done')


if __name__ == '__main__':
    main()
