// Drives Debian's Chromium (headless, software WebGL) through the reference viewer with
// playwright-core (no browser download): one page per request on the command line, as
// JSON {base, pages: [{scene, tier, lang, screenshot, tour, live}]}. Prints a JSON array
// of what each page reported.
import { chromium } from '../../web/node_modules/playwright-core/index.mjs';

const job = JSON.parse(process.argv[2]);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless=new', '--no-sandbox', '--disable-gpu', '--use-angle=swiftshader',
    '--enable-unsafe-swiftshader', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const results = [];
try {
  for (const request of job.pages) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const consoleErrors = [];
    page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()); });
    page.on('pageerror', (error) => consoleErrors.push(String(error)));
    const url = `${job.base}/?scene=${request.scene}&tier=${request.tier}&lang=${request.lang}&name=Tester`;
    await page.goto(url);
    try {
      await page.waitForFunction(
        () => window.twinlandViewer && (window.twinlandViewer.errors.length > 0
          || (window.twinlandViewer.ready && window.twinlandViewer.tilesLoaded >= window.twinlandViewer.layers)),
        null, { timeout: 60000 },
      );
    } catch (error) {  // report what the page got to instead of only "timeout"
      consoleErrors.push(`waiting for tiles: ${error.message}`);
    }
    await page.waitForTimeout(500);  // let the last tiles draw
    await page.screenshot({ path: request.screenshot });
    const result = { request, consoleErrors };
    result.before = await page.evaluate(() => ({ ...window.twinlandViewer }));
    result.poiNames = await page.$$eval('#pois li', (items) => items.map((i) => i.textContent));
    if (request.tour) {
      await page.click('#play-tour');
      await page.waitForFunction((n) => window.twinlandViewer.tourStops >= n, request.tour, { timeout: 60000 });
    }
    if (request.live) {
      await page.click('#join-live');
      await page.waitForFunction(() => window.twinlandViewer.live !== null, null, { timeout: 20000 });
      await page.fill('#chat-text', request.live);
      await page.click('#chat-form button');
      await page.waitForFunction((text) => window.twinlandViewer.chat.includes(text), request.live, { timeout: 20000 });
    }
    result.after = await page.evaluate(() => ({ ...window.twinlandViewer }));
    results.push(result);
    await page.close();
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(results));
