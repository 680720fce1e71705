// The managers' dashboard in a real browser: Debian's headless Chromium
// driven by playwright-core. Logs in as a manager, reads the overview and a
// rep's page, is refused another team's rep by direct URL, logs out; a rep's
// login is refused; no page trips the Content-Security-Policy. Screenshots
// go to ARTIFACTS.
//
//   node dashboard.js PORT ARTIFACTS MANAGER PASSWORD REP OTHER-TEAMS-REP
'use strict';
const { chromium } = require('playwright-core');

const [port, artifacts, manager, password, rep, otherRep] = process.argv.slice(2);
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

    await follow(page, `a:text-is("${rep}")`);
    check(`${rep}'s page opens from the overview`, page.url().startsWith(`${base}/rep?name=${rep}`), page.url());
    check('it lists their deadlines', (await page.locator('table tr').count()) > 1);
    await page.screenshot({ path: `${artifacts}/rep.png`, fullPage: true });

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
    await follow(page, 'a[href^="/visit?id="]');
    check("a visit's page opens from the customer's", (await page.content()).includes('谈了报价'));
    await page.screenshot({ path: `${artifacts}/visit.png`, fullPage: true });
    await page.goto(`${base}/rep?name=${rep}`);
    await follow(page, 'a[href^="/plan?id="]');
    check("the plan's page opens from the rep's", (await page.content()).includes('拜访华信'));
    await page.screenshot({ path: `${artifacts}/plan.png`, fullPage: true });
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
