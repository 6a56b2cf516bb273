// One real Playwright session against the grid at process.argv[2]; prints the page title.
import { chromium } from 'playwright-core';

const browser = await chromium.connect(process.argv[2], { timeout: 30000 });
const page = await browser.newPage();
await page.goto('data:text/html,<title>installed pwgrid</title>');
console.log(await page.title());
await browser.close();
