// A real OpenID Connect provider (panva/node-oidc-provider) on loopback for Tillit's sign-in test.
// Usage: node provider.mjs PORT REDIRECT_URI[,REDIRECT_URI…]
// Two clients, both with secret "tillit-secret" and the code flow with PKCE: "tillit", whose
// id_tokens are signed ES256, and "tillit-rs256", whose id_tokens are signed RS256 (2048-bit RSA,
// published without `alg`; most brokers — MitID/NemLog-in, ID-porten, Freja — sign RS256).
// The interaction is scripted instead of a login page: GET /interaction/UID?login=ID&acr=URI
// signs ID in with that acr; the consent step is granted at once. Prints "ready" when listening.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, redirectUris] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-es256', alg: 'ES256', use: 'sig' };
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const rsaJwk = { ...rsa.export({ format: 'jwk' }), kid: 'test-rs256', use: 'sig' };
const nsis = ['Low', 'Substantial', 'High'].map((l) => `https://data.gov.dk/concept/core/nsis/loa/${l}`);

const provider = new Provider(issuer, {
  clients: [['tillit', 'ES256'], ['tillit-rs256', 'RS256']].map(([id, alg]) => ({
    client_id: id,
    client_secret: 'tillit-secret',
    redirect_uris: redirectUris.split(','),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: alg,
  })),
  jwks: { keys: [jwk, rsaJwk] },
  enabledJWA: { idTokenSigningAlgValues: ['ES256', 'RS256'] },
  acrValues: nsis,
  claims: { openid: ['sub'], profile: ['name'] },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, name: `Person ${id}` }),
  }),
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true },
});
provider.proxy = false;

provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/interaction/')) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  let result;
  if (details.prompt.name === 'login') {
    const { login, acr } = ctx.query;
    if (!login) {
      ctx.status = 400;
      ctx.body = 'scripted login: GET this URL with ?login=ID&acr=URI';
      return;
    }
    result = { login: { accountId: login, acr } };
  } else {
    const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    result = { consent: { grantId: await grant.save() } };
  }
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  ctx.status = 303;
  ctx.redirect(to);
});

provider.listen(Number(port), '127.0.0.1', () => console.log('ready'));
