// The dashboard's entry point: sign-in, the section links (#/overview, #/models, …) and the views.
import { resumeSession, signIn, signOut, whenSignedOut } from './api.js';
import { disposeCharts } from './charts.js';
import { h, replace } from './dom.js';
import { renderKeys } from './keys.js';
import { renderModels } from './models.js';
import { renderOverview } from './overview.js';
import { renderPlayground } from './playground.js';
import { renderUsage } from './usage.js';

type View = (root: HTMLElement, params: URLSearchParams) => (() => void) | void;

const VIEWS: Record<string, { title: string; render: View }> = {
  overview: { title: 'Overview', render: renderOverview },
  models: { title: 'Models', render: renderModels },
  keys: { title: 'Keys', render: renderKeys },
  usage: { title: 'Usage', render: renderUsage },
  playground: { title: 'Playground', render: renderPlayground },
};

const main = document.getElementById('view') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const signInSection = document.getElementById('sign-in') as HTMLElement;
const signInForm = document.getElementById('sign-in-form') as HTMLFormElement;
const keyInput = document.getElementById('master-key') as HTMLInputElement;
const signInError = document.getElementById('sign-in-error') as HTMLElement;
const signOutButton = document.getElementById('sign-out') as HTMLButtonElement;
const content = h('div', { id: 'content' });
main.appendChild(content);

let cleanup: (() => void) | void = undefined;
let signedIn = false;

function leaveView(): void {
  if (typeof cleanup === 'function') cleanup();
  cleanup = undefined;
  disposeCharts();
  replace(content);
}

function route(): void {
  if (!signedIn) return;
  const hash = location.hash.replace(/^#\/?/, '');
  const [name = '', search = ''] = hash.split('?');
  const view = VIEWS[name];
  if (view === undefined) {
    location.replace('#/overview');
    return;
  }
  leaveView();
  for (const link of nav.querySelectorAll('a')) {
    if (link.getAttribute('href') === `#/${name}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${view.title} · llm-proxy`;
  cleanup = view.render(content, new URLSearchParams(search));
  // Screen readers and keyboards start at the new view, not at the link that was followed.
  main.focus({ preventScroll: true });
}

function showSignIn(message = ''): void {
  signedIn = false;
  leaveView();
  nav.hidden = true;
  signOutButton.hidden = true;
  signInSection.hidden = false;
  signInError.textContent = message;
  document.title = 'Sign in · llm-proxy';
  keyInput.focus();
}

function showApp(): void {
  signedIn = true;
  signInSection.hidden = true;
  nav.hidden = false;
  signOutButton.hidden = false;
  route();
}

signInForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const key = keyInput.value;
  // The key leaves the page's state at once; only the session cookie remains.
  keyInput.value = '';
  signInError.textContent = '';
  signIn(key)
    .then(showApp)
    .catch((error: unknown) => showSignIn(error instanceof Error ? error.message : String(error)));
});

signOutButton.addEventListener('click', () => {
  void signOut().finally(() => showSignIn('Signed out.'));
});

whenSignedOut(() => showSignIn('Your session has ended. Sign in again.'));
window.addEventListener('hashchange', route);
// Charts take their colours from the scheme: redraw when it flips.
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', route);

void resumeSession().then((resumed) => (resumed ? showApp() : showSignIn()), () => showSignIn());
