#!/usr/bin/python3
"""console_test.py - drives the web console in a real headless Chromium
(Debian's chromium + chromium-driver, python3-selenium) against a running
controller, broker and nodes set up by tests/integration/web_console.sh.

Prints TAP lines ("ok - ..." / "not ok - ...") that tests/run.sh counts.
Every task after login counts its actions (clicks and submits) through
act(); each of the five tasks must take at most three. At every page the
document must not be wider than the 360 px phone screen
(document.documentElement.scrollWidth <= 360). Screenshots of every page at
360 px and 1280 px go to --shots.

The shell passes what only it knows: the nodes of each village, the pid of
the node to kill (a process the test started), the accounts.
"""
import argparse
import base64
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.by import By

p = argparse.ArgumentParser()
p.add_argument('--url', required=True)
p.add_argument('--cacert')
p.add_argument('--admin', required=True, help='NAME:PASSWORD_FILE')
p.add_argument('--operator', required=True, help='NAME:PASSWORD_FILE (scoped to --village)')
p.add_argument('--village', required=True)
p.add_argument('--village-nodes', required=True, help='n1,n2')
p.add_argument('--other-nodes', required=True, help='n3')
p.add_argument('--other-village', required=True)
p.add_argument('--village-title', default='', help='its title in controller.cfg (zones)')
p.add_argument('--kill-node', required=True, help='NAME:PID')
p.add_argument('--mic', required=True, help='WAV file for the fake microphone')
p.add_argument('--downloads', required=True)
p.add_argument('--shots', required=True)
p.add_argument('--timeout', type=float, default=60)
A = p.parse_args()

failed = 0
counts = {}


def ok(msg):
    print('ok - ' + msg, flush=True)


def not_ok(msg, detail=''):
    global failed
    failed += 1
    print('not ok - ' + msg, flush=True)
    for line in str(detail).splitlines()[:30]:
        print('#   ' + line, flush=True)
    # what the page itself said (errors of the scripts, refused requests)
    try:
        for e in drv.get_log('browser')[-15:]:
            print('#   browser: %s %s' % (e.get('level'), e.get('message', '')[:300]), flush=True)
        print('#   page: ' + text()[:600].replace('\n', ' | '), flush=True)
    except Exception:
        pass


def check(cond, msg, detail=''):
    (ok if cond else lambda m: not_ok(m, detail))(msg)
    return cond


def cred(s):
    name, path = s.split(':', 1)
    return name, open(path).read().strip()


opts = webdriver.ChromeOptions()
opts.binary_location = '/usr/bin/chromium'
for a in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu',
          '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
          '--use-file-for-fake-audio-capture=' + A.mic, '--lang=vi-VN',
          '--window-size=1280,900', '--no-first-run', '--disable-extensions'):
    opts.add_argument(a)
if A.cacert:
    # The controller's certificate comes from its own CA (loaxa web-cert),
    # which this Chromium has no NSS database to trust: the browser accepts
    # exactly the certificate the listener presents, pinned by the SHA-256 of
    # its public key, after this script checked it against the CA.
    host, port = urllib.parse.urlsplit(A.url).hostname, urllib.parse.urlsplit(A.url).port
    ctx = ssl.create_default_context(cafile=A.cacert)
    with socket.create_connection((host, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    pub = subprocess.run(['openssl', 'x509', '-inform', 'DER', '-pubkey', '-noout'], input=der,
                         capture_output=True, check=True).stdout
    spki = subprocess.run(['openssl', 'pkey', '-pubin', '-outform', 'DER'], input=pub,
                          capture_output=True, check=True).stdout
    opts.add_argument('--ignore-certificate-errors-spki-list=' +
                      base64.b64encode(hashlib.sha256(spki).digest()).decode())
opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
opts.add_experimental_option('prefs', {'download.default_directory': A.downloads,
                                       'download.prompt_for_download': False,
                                       'intl.accept_languages': 'vi-VN,vi'})
os.makedirs(A.downloads, exist_ok=True)
os.makedirs(A.shots, exist_ok=True)
drv = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=opts)
drv.execute_cdp_cmd('Browser.setDownloadBehavior', {'behavior': 'allow', 'downloadPath': A.downloads})


def wait(cond, what, timeout=None):
    """Poll cond() (which may raise) until true; returns its value or None."""
    end = time.time() + (timeout or A.timeout)
    last = None
    while time.time() < end:
        try:
            v = cond()
            if v:
                return v
        except WebDriverException as e:
            last = e
        time.sleep(0.2)
    print('#   timed out waiting for ' + what + (': %s' % last if last else ''), flush=True)
    return None


def css(sel):
    return drv.find_elements(By.CSS_SELECTOR, sel)


def one(sel):
    r = wait(lambda: css(sel), sel, 15)
    return r[0] if r else None


def act(task, sel):
    """One action of a task: a click (or a form's submit button)."""
    counts[task] = counts.get(task, 0) + 1
    # live pages redraw every few seconds: an element found just before a
    # redraw is gone when clicked; find it again (still one action)
    for _ in range(10):
        el = wait(lambda: [e for e in css(sel) if e.is_displayed() and e.is_enabled()], sel, 20)
        if not el:
            raise RuntimeError('no clickable ' + sel)
        try:
            el[0].click()
            return
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise RuntimeError(sel + ' kept going stale')


def width(w):
    drv.execute_cdp_cmd('Emulation.setDeviceMetricsOverride',
                        {'width': w, 'height': 800 if w < 500 else 900,
                         'deviceScaleFactor': 1, 'mobile': w < 500})


def no_sideways(page):
    sw = drv.execute_script('return document.documentElement.scrollWidth')
    check(sw <= 360, 'page %s at 360 px does not scroll sideways (scrollWidth %s)' % (page, sw))


def shot(page):
    """Screenshots at 360 and 1280 px; the 360 px check of the page."""
    for w in (360, 1280):
        width(w)
        time.sleep(0.4)
        if w == 360:
            no_sideways(page)
        drv.save_screenshot(os.path.join(A.shots, '%s-%d.png' % (page, w)))
    width(360)


def text():
    return drv.find_element(By.TAG_NAME, 'body').text


def api(path):
    """GET an API path with the browser's session cookie (for the checks only)."""
    cookie = '; '.join('%s=%s' % (c['name'], c['value']) for c in drv.get_cookies())
    req = urllib.request.Request(A.url.rstrip('/') + path, headers={'Cookie': cookie})
    ctx = ssl.create_default_context(cafile=A.cacert) if A.cacert else None
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        return json.loads(r.read())


def login(user):
    name, pw = cred(user)
    drv.delete_all_cookies()
    drv.get(A.url)
    if not one('#login-user'):
        return False
    one('#login-user').send_keys(name)
    one('#login-password').send_keys(pw)
    one('#login-go').click()
    return wait(lambda: css('#nav-phat'), 'the menu after login') is not None


def badge_of(container, node):
    el = css('%s li[data-node="%s"] .badge' % (container, node))
    return el[0].get_attribute('data-result') if el else None


vnodes = A.village_nodes.split(',')
onodes = A.other_nodes.split(',')
allnodes = vnodes + onodes
width(360)

# ------------------------------------------------------------------ login
if not check(login(A.admin), 'the administrator logs in (Vietnamese page, session cookie)'):
    print(drv.page_source[:2000])
    sys.exit(1)
check('Phát ngay' in text() and 'Lịch phát' in text(), 'the menu is in Vietnamese',
      text()[:300])
session_cookie = [c for c in drv.get_cookies() if c['name'] == 'session']
check(session_cookie and session_cookie[0].get('httpOnly'), 'the session cookie is HttpOnly',
      json.dumps(drv.get_cookies()))
shot('phat')

# ------------------------------------------------------------------ 1. announce a recording
T1 = 'announce'
try:
    act(T1, '#zone-' + A.village)
    act(T1, '#rec')
    wait(lambda: 'recording' in one('#rec').get_attribute('class'), 'the recording to start', 10)
    time.sleep(3)
    act(T1, '#rec')
    done = wait(lambda: all(badge_of('#phat-plays', n) == 'finished' for n in vnodes),
                'both nodes of %s to confirm the play' % A.village, 120)
    check(done, 'a recording from the microphone is announced to %s and %s confirm it played'
          % (A.village, ' and '.join(vnodes)), text()[:1500])
    check(not any(badge_of('#phat-plays', n) for n in onodes),
          'the other village\'s nodes (%s) are not among its targets' % ','.join(onodes))
    check(counts[T1] <= 3, 'announce: %d actions after login (at most 3)' % counts[T1])
except Exception as e:
    not_ok('announce a recording', repr(e))

# ------------------------------------------------------------------ 2. daily 05:30 item
T2 = 'schedule'
try:
    act(T2, '#nav-lich')
    one('#f-time')
    # typing is not an action; a time input takes the value through its setter
    drv.execute_script("const e=document.getElementById('f-time'); e.value='05:30';"
                       "e.dispatchEvent(new Event('input',{bubbles:true}))")
    act(T2, '#f-save')
    saved = wait(lambda: css('#week li[data-time="05:30"]'), 'the 05:30 item in the week view', 60)
    check(saved and len(css('#week li[data-time="05:30"]')) == 7,
          'the daily 05:30 item shows on all 7 days of the week view',
          '%d days; %s' % (len(css('#week li[data-time="05:30"]')), text()[:1500]))
    item = saved[0].get_attribute('data-item') if saved else ''

    def in_plan(n):
        st = api('/v1/nodes/' + n).get('status') or {}
        return any(('-0530-' in u.get('id', '')) and item in u.get('id', '') for u in st.get('upcoming', []))
    check(wait(lambda: all(in_plan(n) for n in allnodes), 'the nodes\' plans', 60),
          'every node (%s) reports the 05:30 play in its plan' % ','.join(allnodes),
          json.dumps({n: (api('/v1/nodes/' + n).get('status') or {}).get('upcoming') for n in allnodes})[:1500])
    check(counts[T2] <= 3, 'schedule: %d actions after login (at most 3)' % counts[T2])
    shot('lich')
    # the checks of `loaxa schedule check`, beside the field they name
    drv.execute_script("document.querySelector('#lich-form details').open = true;"
                       "const t=document.getElementById('f-time'); t.value='06:00';"
                       "const r=document.getElementById('f-repeat'); r.value='50';"
                       "r.dispatchEvent(new Event('input',{bubbles:true}))")
    err = wait(lambda: one('#err-repeat').text.strip(), 'the repeat error beside its field', 30)
    check(err and '20' in err, 'a wrong value is checked as the official types, the message beside its field (%s)' % err,
          text()[-800:])
    drv.execute_script("const r=document.getElementById('f-repeat'); r.value='1';"
                       "r.dispatchEvent(new Event('input',{bubbles:true}))")
except Exception as e:
    not_ok('create a daily 05:30 item', repr(e))

# ------------------------------------------------------------------ 3. drill start + stop
T3 = 'drill'
try:
    act(T3, '#emg-open')
    shot('khan-xacnhan')
    act(T3, '#emg-drill')

    def panel_nodes(attr):
        return {e.get_attribute('data-node'): e for e in css('#banner .emg-panel.is-drill li[data-node]')}
    started = wait(lambda: len(panel_nodes(0)) == len(allnodes) and all(
        badge_of('#banner .emg-panel.is-drill', n) in ('started', 'finished') for n in allnodes),
        'every node to confirm the drill', 60)
    check(started, 'a drill starts and every node (%s) confirms it, shown striped as DIỄN TẬP'
          % ','.join(allnodes), text()[:1500])
    check('DIỄN TẬP' in one('#banner').text, 'the banner says DIỄN TẬP (drill), not a real emergency')
    shot('banner-dientap')
    act(T3, '#banner button[data-stop-id]')
    stopped = wait(lambda: len(css('#banner .emg-panel.is-drill li[data-node] [data-stop="yes"]')) == len(allnodes),
                   'every node to confirm the stop', 60)
    check(stopped, 'the drill stops and every node confirms the stop', text()[:1500])
    check(counts[T3] <= 3, 'drill start and stop: %d actions after login (at most 3)' % counts[T3])
except Exception as e:
    not_ok('start and stop a drill', repr(e))

# ------------------------------------------------------------------ 5. the month's CSV
T5 = 'csv'
try:
    act(T5, '#nav-nhatky')
    one('#r-csv')
    shot('nhatky')
    before = set(os.listdir(A.downloads))
    act(T5, '#r-csv')
    month = time.strftime('%Y-%m')
    got = wait(lambda: [f for f in set(os.listdir(A.downloads)) - before
                        if f.endswith('.csv') and not f.endswith('.crdownload')], 'the CSV download', 30)
    data = open(os.path.join(A.downloads, got[0]), 'rb').read() if got else b''
    check(got and data.startswith(b'\xef\xbb\xbf') and all(n.encode() in data for n in allnodes),
          'the month\'s CSV downloads (%s, UTF-8 with BOM, a row for every node)' % (got[0] if got else '-'),
          data[:600].decode('utf-8', 'replace'))
    check(counts[T5] <= 3, 'CSV: %d actions after login (at most 3)' % counts[T5])
    before = set(os.listdir(A.downloads))
    act('x', '#r-xlsx')
    got = wait(lambda: [f for f in set(os.listdir(A.downloads)) - before
                        if f.endswith('.xlsx')], 'the XLSX download', 30)
    try:
        import zipfile
        with zipfile.ZipFile(os.path.join(A.downloads, got[0])) as z:
            sheet = z.read('xl/worksheets/sheet1.xml').decode()
            bad = z.testzip()
        check(bad is None and all('>%s<' % n in sheet for n in allnodes) and 'Nhà văn hóa thôn 1, cổng chợ' in sheet,
              'the month\'s XLSX downloads (%s: a valid workbook with every node)' % got[0], sheet[:400])
    except Exception as e:
        not_ok('the month\'s XLSX downloads', repr(e))
    act('x', '#r-show')
    check(wait(lambda: css('#r-view table'), 'the report table', 30),
          'the month\'s report shows on screen (print view)')
    shot('nhatky-baocao')
except Exception as e:
    not_ok('download the month\'s CSV', repr(e))

# English is there too
try:
    act('x', '#lang')
    check(wait(lambda: 'Announce now' in text(), 'English'), 'the console switches to English')
    act('x', '#lang')
    wait(lambda: 'Phát ngay' in text(), 'Vietnamese again')
except Exception as e:
    not_ok('switch language', repr(e))

# ------------------------------------------------------------------ scoped operator
try:
    act('x', '#logout')
    one('#login-user')
    shot('dangnhap')
    check(login(A.operator), 'the operator of %s logs in' % A.village)
    chips = [e.get_attribute('value') for e in css('#phat-zones input')]
    check(chips == [A.village], 'Phát ngay offers only the operator\'s village (%s)' % chips)
    if A.village_title:
        label = one('#phat-zones input[value="%s"]' % A.village).find_element(By.XPATH, '..').text
        check(label.strip() == A.village_title,
              'the village is shown by its title from controller.cfg (%r)' % label)
    check(not one('#emg-open').is_displayed(), 'an operator sees no emergency control (approvers only)')
    act('op', '#nav-cum')
    wait(lambda: css('#nodes [data-node]'), 'the nodes')
    seen = sorted(e.get_attribute('data-node') for e in css('#nodes [data-node]'))
    check(seen == sorted(vnodes), 'Cụm loa lists only the village\'s nodes (%s)' % seen)
    act('op', '#nav-nhatky')
    wait(lambda: css('#log table') or css('#log .note'), 'the log')
    nodes_in_log = {td.text for td in css('#log tbody tr td:nth-child(2)')}
    check(nodes_in_log and nodes_in_log <= set(vnodes),
          'the log shows only the village\'s nodes (%s)' % sorted(nodes_in_log))
    act('op', '#nav-lich')
    one('#week')
    check(not css('#lich-form'), 'the schedule of the whole commune is read-only for a village operator')
    # acting outside the village: the page's own API call, as a hand-made
    # request from this session would be
    r = drv.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import('./js/api.js').then(async (m) => {
            try {
                const c = (await m.get('/v1/content')).content[0].id;
                await m.post('/v1/broadcasts', {content: c, zone: arguments[0]});
                done('accepted');
            }
            catch (e) { done(String(e.status)); }
        });""", A.other_village)
    check(r == '403', 'a broadcast to another village from the operator\'s session is refused (%s)' % r)
    # a file announced by the village's operator: one choice, and it goes
    # to the approver (approval.levels = ["normal"] in this controller.cfg)
    act('op', '#nav-phat')
    drv.execute_script("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    one('#phat-file').send_keys(A.mic)
    waiting = wait(lambda: css('#drafts li[data-draft] button[data-withdraw]'), 'the draft', 90)
    check(waiting and 'Chờ duyệt' in text(),
          'the operator\'s file for %s waits for approval (Chờ duyệt, with Rút lại for its author)' % A.village,
          text()[:800])
    check(not css('#drafts button[data-approve]'), 'the author cannot approve their own draft')
    act('x', '#logout')
    check(login(A.admin), 'the administrator logs in again')
    act('approve', '#drafts button[data-approve]')
    done = wait(lambda: all(badge_of('#phat-plays', n) == 'finished' for n in vnodes),
                'the village\'s nodes to confirm the approved file', 120)
    check(done and not any(badge_of('#phat-plays', n) for n in onodes),
          'approved on Phát ngay in %d action, it plays on %s (%s confirm), not on %s'
          % (counts['approve'], A.village, ' and '.join(vnodes), ','.join(onodes)), text()[:800])
except Exception as e:
    not_ok('village operator scope', repr(e))

# ------------------------------------------------------------------ 4. a node dies (last: the node stays dead)
T4 = 'offline'
try:
    act(T4, '#nav-cum')
    victim, pid = A.kill_node.split(':')
    one('#nodes [data-node="%s"][data-online="yes"]' % victim)
    shot('cum')
    os.kill(int(pid), signal.SIGKILL)
    off = wait(lambda: css('#nodes [data-node="%s"][data-online="no"]' % victim), 'the node offline', 60)
    check(off, 'killed node %s shows offline on Cụm loa without reloading' % victim, text()[:800])
    alarm = wait(lambda: css('#alarms li[data-alarm="offline"][data-node="%s"]' % victim), 'the alarm', 60)
    check(alarm and 'mất kết nối' in alarm[0].text.lower(),
          'and its offline alarm shows (in Vietnamese)', text()[:800])
    check(counts[T4] <= 3, 'node offline: %d actions after login (at most 3)' % counts[T4])
    shot('cum-offline')
    drv.get(A.url + '#/cum/' + vnodes[0])
    one('#journal')
    shot('cum-node')
    # a remote action from the node's page, and the node's answer
    drv.execute_script("document.getElementById('act-volume-level').value = '70'")
    act('x', '#act-volume')
    answered = wait(lambda: css('#node-commands li .badge[data-result="ok"]'), 'the node to confirm the volume', 30)
    check(answered and wait(lambda: (api('/v1/nodes/' + vnodes[0]).get('status') or {}).get('volume') == 70,
                            'the status to show volume 70', 30),
          'remote volume from the node page: %s answers ok and reports volume 70' % vnodes[0], text()[:600])
    drv.get(A.url + '#/khan')
    one('#khan-past li')
    shot('khan')
except Exception as e:
    not_ok('see a killed node go offline with an alarm', repr(e))

drv.quit()
print('# screenshots in ' + A.shots + ': ' + ' '.join(sorted(os.listdir(A.shots))), flush=True)
sys.exit(1 if failed else 0)
