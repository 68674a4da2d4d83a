// Opens one page of the control API in a real browser (Debian's chromium, driven by
// Playwright) and prints what it got as one JSON line. Run as its own process, because the
// test CA must be trusted through NODE_EXTRA_CA_CERTS, which Node reads when it starts.
//
//   NODE_EXTRA_CA_CERTS=ca.crt node fetch-page.mjs URL [CERT KEY]
import { chromium } from 'playwright-core';

const [url, certPath, keyPath] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
try {
  const origin = new URL(url).origin;
  const context = await browser.newContext(
    certPath === undefined ? {} : { clientCertificates: [{ origin, certPath, keyPath }] },
  );
  const page = await context.newPage();
  try {
    const response = await page.goto(url);
    const body = await page.textContent('body');
    console.log(JSON.stringify({ status: response?.status() ?? null, body }));
  } catch (error) {
    console.log(JSON.stringify({ error: String(error.message).split('\n')[0] }));
  }
} finally {
  await browser.close();
}
