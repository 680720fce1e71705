// The managers' dashboard in a real browser: Debian's headless Chromium
// driven by playwright-core. Logs in as a manager, reads the overview and a
// rep's page, is refused another team's rep by direct URL, logs out; a rep's
// login is refused; no page trips the Content-Security-Policy. Then every
// page again in a browser that asks for Chinese (Accept-Language zh-CN):
// Chinese labels, lang="zh-CN", Chinese drawn with a CJK font; and axe-core
// (npm) on every page in both languages: no serious or critical violation.
// Screenshots go to ARTIFACTS (the Chinese ones named zh-*.png).
//
//   node dashboard.js PORT ARTIFACTS MANAGER PASSWORD REP OTHER-TEAMS-REP ADMIN ADMIN-PASSWORD
'use strict';
const fs = require('fs');
const { chromium } = require('playwright-core');

const [port, artifacts, manager, password, rep, otherRep, admin, adminPw] = process.argv.slice(2);
// axe-core's own script, evaluated in the page through DevTools: the
// pages' CSP allows no script, and an evaluation is not one of the page's.
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const base = `http://127.0.0.1:${port}`;
let failed = 0;
function check(name, ok, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok || !detail ? '' : `\n       ${detail}`}`);
  if (!ok) failed++;
}

// Click what submits a form or follows a link and wait for the page it
// leads to. waitForLoadState('load') alone resolves at once, on the page
// that is still showing, and a read right after it raced the navigation
// (CI saw the login page's content where the overview's was expected).
async function follow(page, selector) {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(selector)]);
}

// axe-core on the page as it is: the serious and critical violations, with
// the rules and the elements they are about; every finding is tallied for
// the summary.
const axeSummary = [];
async function axeCheck(page, name) {
  await page.evaluate(axeSource);
  const res = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ['violations'] }).then((r) =>
      r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }))));
  const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  axeSummary.push(`${name}: ${res.length} violation rules (${bad.length} serious or critical)` +
                  (res.length ? ` [${res.map((v) => `${v.id}:${v.impact}`).join(', ')}]` : ''));
  check(`axe-core: no serious or critical violation on ${name}`, bad.length === 0,
        bad.map((v) => `${v.id} (${v.impact}) at ${v.nodes.slice(0, 3).join('; ')}`).join(' | '));
}

// The fonts Chromium drew the first element matching selector with
// (DevTools' CSS domain): the CJK ones, and all as "family:glyphs".
async function fontsOf(page, selector) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('DOM.enable');
  await cdp.send('CSS.enable');
  const { root } = await cdp.send('DOM.getDocument');
  const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector });
  const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId });
  await cdp.detach();
  return {
    cjk: fonts.filter((f) => /WenQuanYi|Noto Sans CJK|Noto Sans SC|Droid Sans Fallback/i.test(f.familyName)),
    all: fonts.map((f) => `${f.familyName}:${f.glyphCount}`).join(', '),
  };
}

async function login(page, name, pw) {
  await page.goto(`${base}/login`);
  await page.fill('input[name=name]', name);
  await page.fill('input[name=password]', pw);
  await follow(page, 'button[type=submit]');
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage();
    const violations = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });

    await page.goto(`${base}/`);
    check('no session: the login page', page.url() === `${base}/login`, page.url());
    await page.screenshot({ path: `${artifacts}/login.png` });
    await axeCheck(page, 'the login page (English)');

    await login(page, manager, password);
    check('the manager lands on the overview', page.url() === `${base}/`, page.url());
    const overview = await page.content();
    check('the overview names the team', overview.includes('<h1>Team '));
    check(`it lists ${rep}`, overview.includes(`>${rep}</a>`));
    check(`and not ${otherRep} of another team`, !overview.includes(`>${otherRep}<`));
    check('a chart drawn as SVG', (await page.locator('svg.chart rect').count()) > 0);
    const cells = await page.locator('td.red, td.amber, td.green').count();
    check('cells in red, amber or green', cells > 0, `${cells} coloured cells`);
    await page.screenshot({ path: `${artifacts}/overview.png`, fullPage: true });
    await axeCheck(page, 'the team page (English)');

    await follow(page, `a:text-is("${rep}")`);
    check(`${rep}'s page opens from the overview`, page.url().startsWith(`${base}/rep?name=${rep}`), page.url());
    check('it lists their deadlines', (await page.locator('table tr').count()) > 1);
    await page.screenshot({ path: `${artifacts}/rep.png`, fullPage: true });
    await axeCheck(page, "a rep's page (English)");

    // The work itself: the customer's, a visit's and the plan's pages.
    await follow(page, 'a[href^="/customer?id="]');
    check("the customer's page opens from the rep's", (await page.locator('h1').textContent()).includes('控制'));
    check('it lists the contacts', (await page.content()).includes('王芳'));
    // Chinese renders with a CJK font, not as empty boxes: the fonts
    // Chromium used for the heading's glyphs (DevTools' CSS domain).
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('DOM.enable');
    await cdp.send('CSS.enable');
    const { root } = await cdp.send('DOM.getDocument');
    const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector: 'h1' });
    const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId });
    const cjk = fonts.filter((f) => /WenQuanYi|Noto Sans CJK|Noto Sans SC|Droid Sans Fallback/i.test(f.familyName));
    check('the Chinese of the heading is drawn with a CJK font', cjk.length > 0 && cjk[0].glyphCount >= 2,
          fonts.map((f) => `${f.familyName}:${f.glyphCount}`).join(', '));
    await page.screenshot({ path: `${artifacts}/customer.png`, fullPage: true });
    await axeCheck(page, "a customer's page (English)");
    await follow(page, 'a[href^="/visit?id="]');
    check("a visit's page opens from the customer's", (await page.content()).includes('谈了报价'));
    await page.screenshot({ path: `${artifacts}/visit.png`, fullPage: true });
    await axeCheck(page, "a visit's page (English)");
    await page.goto(`${base}/rep?name=${rep}`);
    await follow(page, 'a[href^="/plan?id="]');
    check("the plan's page opens from the rep's", (await page.content()).includes('拜访华信'));
    await page.screenshot({ path: `${artifacts}/plan.png`, fullPage: true });
    await axeCheck(page, "a plan's page (English)");
    await page.goto(`${base}/rep?name=${rep}`);

    // The manager's actions travel as ordinary changes (the wrapper checks
    // that the rep's device receives them).
    await follow(page, 'button[value=approve]');
    check('the weekly plan is approved from the browser', (await page.content()).includes('<td>approved</td>'));
    await page.fill('form[action="/spotcheck"] input[name=comment]', 'checked in the browser');
    await page.selectOption('form[action="/spotcheck"] select[name=accurate]', 'no');
    await follow(page, 'button:text("Record the spot-check")');
    check('a spot-check is recorded from the browser', page.url().startsWith(`${base}/rep?name=${rep}`), page.url());
    await page.screenshot({ path: `${artifacts}/rep-after-actions.png`, fullPage: true });

    const other = await page.goto(`${base}/rep?name=${encodeURIComponent(otherRep)}`);
    check("another team's rep by direct URL: 404", other.status() === 404, `status ${other.status()}`);
    check('and none of their data', !(await page.content()).includes('<td>'));

    await page.goto(`${base}/`);
    await follow(page, 'button:text("Log out")');
    check('logout returns to the login page', page.url() === `${base}/login`, page.url());
    const after = await page.goto(`${base}/`);
    check('after logout the overview is closed', page.url() === `${base}/login`, `${after.status()} ${page.url()}`);

    await login(page, rep, 'any password at all');
    check("a rep's login is refused", (await page.content()).includes('Wrong name or password'));
    check('and leads nowhere', page.url() === `${base}/login`, page.url());
    await page.screenshot({ path: `${artifacts}/rep-refused.png` });

    // ---- the same pages in a browser that asks for Chinese ----
    const zh = await browser.newContext({ locale: 'zh-CN' });
    const zpage = await zh.newPage();
    zpage.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    await zpage.goto(`${base}/login`);
    check('Chinese: the login page has lang="zh-CN"', (await zpage.getAttribute('html', 'lang')) === 'zh-CN');
    check('Chinese: its button says 登录', (await zpage.locator('button[type=submit]').textContent()) === '登录');
    await zpage.screenshot({ path: `${artifacts}/zh-login.png` });
    await axeCheck(zpage, 'the login page (Chinese)');
    await login(zpage, manager, password);
    check('Chinese: the manager lands on the team page', zpage.url() === `${base}/`, zpage.url());
    check('Chinese: its heading says 团队', (await zpage.locator('h1').textContent()).startsWith('团队'));
    const h1 = await fontsOf(zpage, 'h1');
    check('Chinese: the heading is drawn with a CJK font, not as empty boxes',
          h1.cjk.length > 0 && h1.cjk[0].glyphCount >= 2, h1.all);
    // The zone of every time named once.
    check('Chinese: the time zone named once', (await zpage.locator('span.zone').count()) === 1);
    await zpage.screenshot({ path: `${artifacts}/zh-overview.png`, fullPage: true });
    await axeCheck(zpage, 'the team page (Chinese)');
    // The rules' headings wrap to a few lines, not a character a line
    // (本月重点客户 took six lines, one character each).
    const headLines = await zpage.locator('table.tally th').evaluateAll((ths) =>
      ths.map((th) => {
        const cs = getComputedStyle(th);
        const pad = parseFloat(cs.paddingTop) + parseFloat(cs.paddingBottom);
        const line = parseFloat(cs.lineHeight) || 1.5 * parseFloat(cs.fontSize);
        return { text: th.textContent, lines: Math.round((th.clientHeight - pad) / line) };
      }));
    const tallest = Math.max(...headLines.map((h) => h.lines));
    check('Chinese: no rule heading takes more than five lines', headLines.length > 10 && tallest <= 5,
          JSON.stringify(headLines));
    // Each rep's 8-week trend, a sparkline in the team table, labelled.
    const spark = zpage.locator(`tr:has(a:text-is("${rep}")) svg.spark`);
    check("Chinese: the team table has the rep's sparkline", (await spark.count()) === 1);
    const sparkLabel = (await spark.getAttribute('aria-label')) || '';
    check('Chinese: the sparkline is labelled with the rep and the weeks, in Chinese',
          sparkLabel.startsWith(`${rep}，近八周`) && (sparkLabel.match(/; W\d\d /g) || []).length === 8, sparkLabel);
    check('Chinese: with its target as a dashed line', (await spark.locator('line.target[stroke-dasharray]').count()) === 1);
    const points = await spark.locator('circle[data-week]').evaluateAll((cs) =>
      cs.map((c) => ({ week: c.getAttribute('data-week'), on: +c.getAttribute('data-on-time'), all: +c.getAttribute('data-all') })));
    check('Chinese: a point for each week with anything due, at most eight', points.length >= 1 && points.length <= 8, JSON.stringify(points));
    const box = await spark.boundingBox();
    check('Chinese: the sparkline is drawn (it has a size on the page)', box !== null && box.width > 50 && box.height > 20, JSON.stringify(box));
    await spark.screenshot({ path: `${artifacts}/zh-sparkline.png` });
    // The week picker: weeks the server names in the page's language.
    check('Chinese: no week input drawn by the browser', (await zpage.locator('input[type=week]').count()) === 0);
    const picked = zpage.locator('nav.weeks select[name=week] option:checked');
    check('Chinese: the week picker names the week in Chinese',
          /^\d{4}年第\d{1,2}周（\d{4}-\d\d-\d\d至\d{4}-\d\d-\d\d）$/.test(await picked.textContent()),
          await picked.textContent());
    const options = await zpage.locator('nav.weeks select[name=week] option').evaluateAll((os) => os.map((o) => o.value));
    check('Chinese: seventeen weeks to pick from', options.length === 17, options.join(' '));
    await zpage.selectOption('nav.weeks select[name=week]', options[10]);
    await follow(zpage, 'nav.weeks button[type=submit]');
    check('Chinese: picking a week opens it', zpage.url().endsWith(`/?week=${options[10]}`), zpage.url());
    check('Chinese: and shows it picked',
          (await zpage.locator('nav.weeks select[name=week] option:checked').getAttribute('value')) === options[10]);
    check('Chinese: with a link back to this week', (await zpage.locator('nav.weeks a:text-is("回到本周")').count()) === 1);
    await zpage.screenshot({ path: `${artifacts}/zh-overview-picked-week.png`, fullPage: true });
    await axeCheck(zpage, 'the team page of a picked week (Chinese)');
    await zpage.goto(`${base}/`);
    await follow(zpage, `a:text-is("${rep}")`);
    check("Chinese: the rep's page charts each rule with its target",
          (await zpage.locator('svg.rules line.target').count()) > 0);
    check("Chinese: and words that agree with the figures",
          /\d+ 项中 \d+ 项按时，\d+ %/.test(await zpage.locator('svg.rules').textContent()));
    check("Chinese: the 8-week trend", (await zpage.locator('svg.trend circle, svg.trend text').count()) >= 8);
    await zpage.screenshot({ path: `${artifacts}/zh-rep.png`, fullPage: true });
    await axeCheck(zpage, "a rep's page (Chinese)");
    // the week picker and the links to the weeks around
    await follow(zpage, 'nav.weeks a[rel=prev]');
    check('Chinese: the previous week opens from its link', /week=\d{4}-W\d{2}/.test(zpage.url()), zpage.url());
    const prevWeek = zpage.url().replace(/.*week=/, '');
    check("Chinese: a rep's page picks weeks in Chinese too, the rep kept",
          (await zpage.locator('nav.weeks input[type=hidden][name=name]').getAttribute('value')) === rep &&
          /^\d{4}年第\d{1,2}周/.test(await zpage.locator('nav.weeks select[name=week] option:checked').textContent()));
    const repOptions = await zpage.locator('nav.weeks select[name=week] option').evaluateAll((os) => os.map((o) => o.value));
    await zpage.selectOption('nav.weeks select[name=week]', repOptions[16]);
    await follow(zpage, 'nav.weeks button[type=submit]');
    check("Chinese: picking a week on a rep's page opens the rep's week",
          zpage.url().endsWith(`/rep?name=${rep}&week=${repOptions[16]}`), `${zpage.url()} (from ${prevWeek})`);
    await zpage.goto(`${base}/rep?name=${rep}`);
    await follow(zpage, 'a[href^="/customer?id="]');
    check("Chinese: the customer's page, Form 1's labels", (await zpage.content()).includes('<th>联系人</th>'));
    const cust = await fontsOf(zpage, 'h1');
    check("Chinese: the customer's name drawn with a CJK font", cust.cjk.length > 0, cust.all);
    await zpage.screenshot({ path: `${artifacts}/zh-customer.png`, fullPage: true });
    await axeCheck(zpage, "a customer's page (Chinese)");
    await follow(zpage, 'a[href^="/visit?id="]');
    check("Chinese: a visit's page", (await zpage.content()).includes('谈了报价'));
    await zpage.screenshot({ path: `${artifacts}/zh-visit.png`, fullPage: true });
    await axeCheck(zpage, "a visit's page (Chinese)");
    await zpage.goto(`${base}/rep?name=${rep}`);
    await follow(zpage, 'a[href^="/plan?id="]');
    check("Chinese: the plan's page, Form 2's labels", (await zpage.content()).includes('本周核心目标'));
    await zpage.screenshot({ path: `${artifacts}/zh-plan.png`, fullPage: true });
    await axeCheck(zpage, "a plan's page (Chinese)");
    // Fixed on purpose: no year has a week 99, whatever today is.
    const bad = await zpage.goto(`${base}/?week=2026-W99`);
    check('Chinese: a bad week is a 400 saying why', bad.status() === 400 &&
          (await zpage.content()).includes('周次写作'), `status ${bad.status()}`);
    await zpage.screenshot({ path: `${artifacts}/zh-bad-week.png`, fullPage: true });
    await axeCheck(zpage, 'the bad week page (Chinese)');
    // Search by customer name from the team page's form.
    await zpage.goto(`${base}/`);
    await zpage.fill('form.search input[name=q]', '控制');
    await follow(zpage, 'form.search button[type=submit]');
    check('Chinese: a search by a part of a Chinese name finds the customer',
          (await zpage.locator('a[href^="/customer?id="]').count()) === 1, zpage.url());
    await zpage.screenshot({ path: `${artifacts}/zh-search.png`, fullPage: true });
    await axeCheck(zpage, 'the search page (Chinese)');
    // The link to English, kept for the next pages by a cookie.
    await zpage.goto(`${base}/`);
    await follow(zpage, 'nav.lang a[hreflang=en]');
    check('the link to English gives lang="en" in a Chinese browser', (await zpage.getAttribute('html', 'lang')) === 'en');
    await zpage.goto(`${base}/rep?name=${rep}`);
    check('and the choice is kept', (await zpage.getAttribute('html', 'lang')) === 'en');
    await follow(zpage, 'nav.lang a[hreflang=zh-CN]');
    check('and back to Chinese', (await zpage.getAttribute('html', 'lang')) === 'zh-CN');
    await follow(zpage, 'button:text("退出登录")');
    // The admin's pages.
    await login(zpage, admin, adminPw);
    check('Chinese: the admin lands on users and devices', (await zpage.locator('h1').textContent()) === '用户与设备');
    await zpage.screenshot({ path: `${artifacts}/zh-admin.png`, fullPage: true });
    await axeCheck(zpage, 'the users and devices page (Chinese)');
    await zpage.goto(`${base}/audit`);
    await zpage.screenshot({ path: `${artifacts}/zh-audit.png`, fullPage: true });
    await axeCheck(zpage, 'the audit log (Chinese)');
    await zpage.goto(`${base}/audit?lang=en`);
    await axeCheck(zpage, 'the audit log (English)');
    await zpage.goto(`${base}/?lang=en`);
    await axeCheck(zpage, 'the users and devices page (English)');
    await zh.close();

    console.log('axe-core summary:');
    for (const line of axeSummary) console.log(`  ${line}`);
    check('no Content-Security-Policy violation on any page', violations.length === 0, violations.join('; '));
  } finally {
    await browser.close();
  }
  console.log(failed ? `${failed} failed` : 'all passed');
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.log(`FAIL the browser run: ${e.message}`);
  process.exit(1);
});
