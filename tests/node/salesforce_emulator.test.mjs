// salesforce_emulator.test.mjs - jsforce (unchanged) against
// `tether emulate salesforce`: login (OAuth2 password, SOAP, authorization
// code + refresh token), describe, SOQL with paging, queryAll, CRUD,
// composite, replication feeds, error objects and session refresh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import jsforce from 'jsforce';
import { startEmulator, CREDS } from './salesforce_helpers.mjs';

let emu;
let conn;

function oauthConn() {
  return new jsforce.Connection({
    oauth2: { clientId: CREDS.clientId, clientSecret: CREDS.clientSecret, loginUrl: emu.url,
      redirectUri: 'http://localhost/callback' },
    loginUrl: emu.url,
    version: '59.0',
  });
}

before(async () => {
  emu = await startEmulator(['--seed-accounts', '30', '--seed-contacts', '2500']);
  conn = oauthConn();
  await conn.login(CREDS.username, CREDS.password);
});

after(async () => {
  if (emu) assert.equal(await emu.stop(), 0);
});

test('OAuth2 password login establishes an instance URL and user info', async () => {
  assert.equal(conn.instanceUrl, emu.url);
  assert.match(conn.accessToken, /^00D/);
  assert.match(conn.userInfo.id, /^005[A-Za-z0-9]{15}$/);
  assert.match(conn.userInfo.organizationId, /^00D[A-Za-z0-9]{15}$/);
  const id = await conn.identity();
  assert.equal(id.username, CREDS.username);
});

test('OAuth2 password login with a wrong password fails with invalid_grant', async () => {
  const c = oauthConn();
  await assert.rejects(c.login(CREDS.username, 'wrong'), /authentication failure|invalid_grant/);
});

test('SOAP login (jsforce default without OAuth2 client) works', async () => {
  const c = new jsforce.Connection({ loginUrl: emu.url, version: '59.0' });
  const info = await c.login(CREDS.username, CREDS.password);
  assert.equal(c.instanceUrl, emu.url);
  assert.match(info.organizationId, /^00D/);
  const res = await c.query('SELECT Id FROM Account LIMIT 3');
  assert.equal(res.records.length, 3);
  const bad = new jsforce.Connection({ loginUrl: emu.url, version: '59.0' });
  await assert.rejects(bad.login(CREDS.username, 'nope'), /INVALID_LOGIN/);
});

test('logout (SOAP and OAuth2 revoke) ends the session', async () => {
  const limits = (tok) => fetch(`${emu.url}/services/data/v59.0/limits`, { headers: { Authorization: `Bearer ${tok}` } });
  const soap = new jsforce.Connection({ loginUrl: emu.url, version: '59.0' });
  await soap.login(CREDS.username, CREDS.password);
  const t1 = soap.accessToken;
  assert.equal((await limits(t1)).status, 200);
  await soap.logout();
  assert.equal((await limits(t1)).status, 401);
  const oauth = oauthConn();
  await oauth.login(CREDS.username, CREDS.password);
  const t2 = oauth.accessToken;
  await oauth.logout();
  assert.equal((await limits(t2)).status, 401);
});

test('describeGlobal and describe report realistic metadata', async () => {
  const g = await conn.describeGlobal();
  const names = g.sobjects.map((s) => s.name);
  for (const n of ['Account', 'Contact', 'Lead', 'Opportunity', 'User', 'Invoice__c']) {
    assert.ok(names.includes(n), n);
  }
  const inv = g.sobjects.find((s) => s.name === 'Invoice__c');
  assert.equal(inv.custom, true);
  assert.equal(inv.keyPrefix, 'a0X');

  const d = await conn.sobject('Contact').describe();
  const f = Object.fromEntries(d.fields.map((x) => [x.name, x]));
  assert.equal(f.Id.type, 'id');
  assert.equal(f.Email.type, 'email');
  assert.equal(f.Phone.type, 'phone');
  assert.equal(f.LastName.nillable, false);
  assert.equal(f.LastName.length, 80);
  assert.equal(f.AccountId.type, 'reference');
  assert.deepEqual(f.AccountId.referenceTo, ['Account']);
  assert.equal(f.AccountId.relationshipName, 'Account');
  assert.equal(f.Region__c.custom, true);
  assert.equal(f.Region__c.type, 'picklist');
  assert.deepEqual(f.Region__c.picklistValues.map((p) => p.value), ['AMER', 'EMEA', 'APAC']);
  assert.equal(f.MailingAddress.type, 'address');
  assert.equal(f.MailingCity.compoundFieldName, 'MailingAddress');
  assert.equal(f.Name.calculated, true);
  assert.equal(f.Name.createable, false);
  assert.equal(f.SystemModstamp.type, 'datetime');
  assert.equal(f.Birthdate.type, 'date');
  assert.equal(f.DoNotCall.type, 'boolean');

  const di = await conn.sobject('Invoice__c').describe();
  const fi = Object.fromEntries(di.fields.map((x) => [x.name, x]));
  assert.equal(fi.Amount__c.type, 'currency');
  assert.deepEqual(fi.Account__c.referenceTo, ['Account']);
  assert.equal(fi.Account__c.relationshipName, 'Account__r');
  assert.equal(fi.Status__c.restrictedPicklist, true);
  const dop = await conn.sobject('Opportunity').describe();
  assert.equal(dop.fields.find((x) => x.name === 'Probability').type, 'percent');
  await assert.rejects(conn.sobject('Nope__c').describe(), (e) => e.errorCode === 'NOT_FOUND');
});

test('query pages with nextRecordsUrl (2000 per batch) and queryMore', async () => {
  const first = await conn.query('SELECT Id, Email FROM Contact ORDER BY Id', { autoFetch: false });
  assert.equal(first.totalSize, 2500);
  assert.equal(first.done, false);
  assert.equal(first.records.length, 2000);
  assert.match(first.nextRecordsUrl, /\/services\/data\/v59\.0\/query\/01g\w+-2000$/);
  assert.equal(first.records[0].attributes.type, 'Contact');
  assert.match(first.records[0].attributes.url, /\/sobjects\/Contact\/003/);
  const more = await conn.queryMore(first.nextRecordsUrl);
  assert.equal(more.done, true);
  assert.equal(more.records.length, 500);
  const ids = new Set([...first.records, ...more.records].map((r) => r.Id));
  assert.equal(ids.size, 2500);
});

test('autoFetch follows every batch; batchSize header is honoured', async () => {
  const records = [];
  await new Promise((resolve, reject) => {
    conn.query('SELECT Id FROM Contact')
      .on('record', (r) => records.push(r))
      .on('end', resolve)
      .on('error', reject)
      .run({ autoFetch: true, maxFetch: 100000 });
  });
  assert.equal(records.length, 2500);

  const res = await fetch(`${emu.url}/services/data/v59.0/query?q=${encodeURIComponent('SELECT Id FROM Contact')}`, {
    headers: { Authorization: `Bearer ${conn.accessToken}`, 'Sforce-Query-Options': 'batchSize=300' },
  });
  assert.match(res.headers.get('sforce-limit-info'), /^api-usage=\d+\/\d+$/);
  const body = await res.json();
  assert.equal(body.records.length, 300);
  assert.match(body.nextRecordsUrl, /-300$/);
});

test('SOQL WHERE, ORDER BY, LIMIT and count()', async () => {
  const r = await conn.query(
    "SELECT Id, FirstName, Region__c FROM Contact WHERE (Region__c = 'EMEA' OR Region__c IN ('APAC')) " +
    "AND NOT LastName LIKE 'Last1%' AND Email != null ORDER BY Region__c DESC, LastName ASC LIMIT 5");
  assert.equal(r.records.length, 5);
  assert.equal(r.records[0].Region__c, 'EMEA');
  for (const rec of r.records) assert.ok(!rec.FirstName.startsWith('First1'));
  const n = await conn.sobject('Contact').count({ Region__c: 'AMER' });
  assert.ok(n > 800 && n < 900, `count ${n}`);
  const since = await conn.query(
    'SELECT Id, SystemModstamp FROM Contact WHERE SystemModstamp >= 2024-01-01T00:00:00Z ORDER BY SystemModstamp DESC LIMIT 3');
  assert.equal(since.records.length, 3);
  assert.ok(since.records[0].SystemModstamp > since.records[1].SystemModstamp);
  const none = await conn.query('SELECT Id FROM Contact WHERE SystemModstamp > 2999-01-01T00:00:00Z');
  assert.equal(none.totalSize, 0);
});

test('parent relationship fields in SELECT, WHERE and ORDER BY', async () => {
  const r = await conn.query(
    "SELECT Id, Account.Name, Account.Industry, Owner.Name FROM Contact WHERE Account.Name = 'Account 7' ORDER BY Account.Name, Id LIMIT 3");
  assert.equal(r.records.length, 3);
  const rec = r.records[0];
  assert.equal(rec.Account.attributes.type, 'Account');
  assert.equal(rec.Account.Name, 'Account 7');
  assert.equal(rec.Account.Industry, 'Technology');
  assert.equal(rec.Owner.Name, 'Admin User');
  const orphan = await conn.sobject('Contact').create({ LastName: 'Orphan' });
  const o = await conn.query(`SELECT Id, Account.Name FROM Contact WHERE Id = '${orphan.id}' AND Account.Name = null`);
  assert.equal(o.totalSize, 1);
  assert.equal(o.records[0].Account, null);
  await assert.rejects(conn.query('SELECT Nope.Name FROM Contact'), (e) => e.errorCode === 'INVALID_FIELD');
});

test('query errors: MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE', async () => {
  await assert.rejects(conn.query('SELEC Id FROM Contact'), (e) => e.errorCode === 'MALFORMED_QUERY');
  await assert.rejects(conn.query("SELECT Id FROM Contact WHERE Email = 'x"), (e) => e.errorCode === 'MALFORMED_QUERY');
  await assert.rejects(conn.query('SELECT Bogus__c FROM Contact'), (e) => e.errorCode === 'INVALID_FIELD' && /Bogus__c/.test(e.message));
  await assert.rejects(conn.query("SELECT Id FROM Contact WHERE SystemModstamp > '2024'"), (e) => e.errorCode === 'INVALID_FIELD');
  await assert.rejects(conn.query('SELECT Id FROM Widget'), (e) => e.errorCode === 'INVALID_TYPE');
});

test('CRUD with system fields, soft delete and queryAll', async () => {
  const acct = await conn.sobject('Account').create({ Name: 'Acme', Industry: 'Retail', BillingCity: 'Paris' });
  assert.equal(acct.success, true);
  assert.match(acct.id, /^001[A-Za-z0-9]{15}$/);
  const c = await conn.sobject('Contact').create({ FirstName: 'Ada', LastName: 'Lovelace', Email: 'ada@example.com', AccountId: acct.id, Region__c: 'EMEA', MailingCity: 'London' });
  assert.match(c.id, /^003[A-Za-z0-9]{15}$/);
  const got = await conn.sobject('Contact').retrieve(c.id);
  assert.equal(got.Name, 'Ada Lovelace');
  assert.equal(got.IsDeleted, false);
  assert.equal(got.OwnerId, conn.userInfo.id);
  assert.equal(got.CreatedById, conn.userInfo.id);
  assert.equal(got.MailingAddress.city, 'London');
  assert.match(got.CreatedDate, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
  const stamp1 = got.SystemModstamp;

  await conn.sobject('Contact').update({ Id: c.id, Title: 'Countess' });
  const got2 = await conn.sobject('Contact').retrieve(c.id);
  assert.equal(got2.Title, 'Countess');
  assert.ok(got2.SystemModstamp > stamp1, 'SystemModstamp increases');
  assert.equal(got2.CreatedDate, got.CreatedDate);

  const partial = await fetch(`${emu.url}/services/data/v59.0/sobjects/Contact/${c.id}?fields=Id,Email`, {
    headers: { Authorization: `Bearer ${conn.accessToken}` } }).then((r) => r.json());
  assert.deepEqual(Object.keys(partial), ['attributes', 'Id', 'Email']);

  const inv = await conn.sobject('Invoice__c').create({ Name: 'INV-1', Amount__c: 12.5, Account__c: acct.id, Status__c: 'Draft' });
  assert.match(inv.id, /^a0X/);

  await conn.sobject('Contact').destroy(c.id);
  await assert.rejects(conn.sobject('Contact').retrieve(c.id), (e) => e.errorCode === 'ENTITY_IS_DELETED');
  await assert.rejects(conn.sobject('Contact').update({ Id: c.id, Title: 'x' }), (e) => e.errorCode === 'ENTITY_IS_DELETED');
  const live = await conn.query(`SELECT Id FROM Contact WHERE Id = '${c.id}'`);
  assert.equal(live.totalSize, 0);
  const all = await conn.query(`SELECT Id, IsDeleted FROM Contact WHERE Id = '${c.id}'`, { scanAll: true });
  assert.equal(all.totalSize, 1);
  assert.equal(all.records[0].IsDeleted, true);
  const deletedOnly = await conn.query('SELECT Id FROM Contact WHERE IsDeleted = true', { scanAll: true });
  assert.equal(deletedOnly.totalSize, 1);

  const start = new Date(Date.now() - 3600e3);
  const end = new Date(Date.now() + 60e3);
  const upd = await conn.sobject('Account').updated(start.toISOString(), end.toISOString());
  assert.ok(upd.ids.includes(acct.id));
  const del = await conn.sobject('Contact').deleted(start.toISOString(), end.toISOString());
  assert.deepEqual(del.deletedRecords.map((d) => d.id), [c.id]);
});

test('write errors carry errorCode and fields', async () => {
  const Contact = conn.sobject('Contact');
  await assert.rejects(Contact.create({ LastName: 'X', Email: 'bad@' }), (e) =>
    e.errorCode === 'INVALID_EMAIL_ADDRESS' && e.message === 'Email: invalid email address: bad@' &&
    JSON.stringify(e.data.fields) === '["Email"]');
  await assert.rejects(Contact.create({ FirstName: 'NoLast' }), (e) =>
    e.errorCode === 'REQUIRED_FIELD_MISSING' && e.data.fields[0] === 'LastName');
  await assert.rejects(Contact.create({ LastName: 'X', Nope__c: 1 }), (e) => e.errorCode === 'INVALID_FIELD');
  await assert.rejects(Contact.create({ LastName: 'X', Name: 'calc' }), (e) => e.errorCode === 'INVALID_FIELD_FOR_INSERT_UPDATE');
  await assert.rejects(Contact.create({ LastName: 'x'.repeat(81) }), (e) => e.errorCode === 'STRING_TOO_LONG');
  await assert.rejects(Contact.create({ LastName: 'X', AccountId: 'garbage' }), (e) => e.errorCode === 'MALFORMED_ID');
  await assert.rejects(conn.sobject('Invoice__c').create({ Status__c: 'Bogus' }), (e) =>
    e.errorCode === 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST');
  await assert.rejects(Contact.retrieve('003Dn0000009999AAA'), (e) => e.errorCode === 'NOT_FOUND');
});

test('composite create/update/delete, allOrNone', async () => {
  const Contact = conn.sobject('Contact');
  const made = await Contact.create([
    { LastName: 'Comp1', Email: 'c1@example.com' },
    { LastName: 'Comp2' },
    { FirstName: 'Broken' },
  ]);
  assert.equal(made.length, 3);
  assert.equal(made[0].success, true);
  assert.equal(made[1].success, true);
  assert.equal(made[2].success, false);
  assert.equal(made[2].errors[0].statusCode, 'REQUIRED_FIELD_MISSING');

  const upd = await Contact.update([{ Id: made[0].id, Title: 'T1' }, { Id: made[1].id, Title: 'T2' }]);
  assert.ok(upd.every((r) => r.success));
  const back = await Contact.retrieve([made[0].id, made[1].id]);
  assert.deepEqual(back.map((r) => r.Title), ['T1', 'T2']);

  const before = await conn.query("SELECT count() FROM Contact WHERE LastName = 'AON'");
  const aon = await Contact.create([{ LastName: 'AON' }, { LastName: 'AON', Email: 'nope' }], { allOrNone: true });
  assert.deepEqual(aon.map((r) => r.success), [false, false]);
  assert.equal(aon[0].errors[0].statusCode, 'ALL_OR_NONE_OPERATION_ROLLED_BACK');
  assert.equal(aon[1].errors[0].statusCode, 'INVALID_EMAIL_ADDRESS');
  const after = await conn.query("SELECT count() FROM Contact WHERE LastName = 'AON'");
  assert.equal(after.totalSize, before.totalSize, 'allOrNone rolled back');

  const gone = await Contact.destroy([made[0].id, made[1].id]);
  assert.ok(gone.every((r) => r.success));
  const all = await conn.query(`SELECT Id, IsDeleted FROM Contact WHERE Id IN ('${made[0].id}', '${made[1].id}')`, { scanAll: true });
  assert.ok(all.records.every((r) => r.IsDeleted === true));
});

test('limits endpoint and REQUEST_LIMIT_EXCEEDED', async () => {
  const lim = await conn.limits();
  assert.ok(lim.DailyApiRequests.Max > 0);
  assert.ok(lim.DailyApiRequests.Remaining < lim.DailyApiRequests.Max);
  await emu.faults({ limit_exceeded_rate: 1 });
  try {
    await assert.rejects(conn.query('SELECT Id FROM Account LIMIT 1'), (e) => e.errorCode === 'REQUEST_LIMIT_EXCEEDED');
  } finally {
    await emu.faults({ limit_exceeded_rate: 0 });
  }
});

test('expired session: password login re-authenticates, refresh token flow refreshes', async () => {
  await emu.faults({ expire_sessions: true });
  const old = conn.accessToken;
  const r = await conn.query('SELECT Id FROM Account LIMIT 1');
  assert.equal(r.records.length, 1);
  assert.notEqual(conn.accessToken, old, 'jsforce logged in again after INVALID_SESSION_ID');

  // Authorization code flow gives a refresh token; then the session expires.
  const c = oauthConn();
  const authz = await fetch(c.oauth2.getAuthorizationUrl({}), { redirect: 'manual' });
  assert.equal(authz.status, 302);
  const code = new URL(authz.headers.get('location')).searchParams.get('code');
  await c.authorize(code);
  assert.ok(c.refreshToken);
  let refreshed = 0;
  c.on('refresh', () => { refreshed++; });
  await emu.faults({ expire_sessions: true });
  const r2 = await c.query('SELECT Id FROM Account LIMIT 1');
  assert.equal(r2.records.length, 1);
  assert.equal(refreshed, 1);

  const raw = await fetch(`${emu.url}/services/data/v59.0/limits`, { headers: { Authorization: 'Bearer nope' } });
  assert.equal(raw.status, 401);
  assert.equal((await raw.json())[0].errorCode, 'INVALID_SESSION_ID');
});

test('session TTL fault expires sessions by time', async () => {
  await emu.faults({ session_ttl: 1 });
  try {
    const c = oauthConn();
    await c.login(CREDS.username, CREDS.password);
    const tok = c.accessToken;
    await new Promise((r) => setTimeout(r, 1100));
    const raw = await fetch(`${emu.url}/services/data/v59.0/limits`, { headers: { Authorization: `Bearer ${tok}` } });
    assert.equal(raw.status, 401);
    await c.query('SELECT Id FROM Account LIMIT 1');
    assert.notEqual(c.accessToken, tok);
  } finally {
    await emu.faults({ session_ttl: 0 });
  }
});

test('injected 503/500, dropped and truncated responses', async () => {
  await conn.query('SELECT Id FROM Account LIMIT 1'); // re-login after the expiry tests
  const get = () => fetch(`${emu.url}/services/data/v59.0/limits`, { headers: { Authorization: `Bearer ${conn.accessToken}` } });
  try {
    await emu.faults({ error_503_rate: 1 });
    assert.equal((await get()).status, 503);
    await emu.faults({ error_503_rate: 0, error_500_rate: 1 });
    const r500 = await get();
    assert.equal(r500.status, 500);
    assert.equal((await r500.json())[0].errorCode, 'UNKNOWN_EXCEPTION');
    await emu.faults({ error_500_rate: 0, drop_rate: 1 });
    await assert.rejects(get());
    await emu.faults({ drop_rate: 0, truncate_rate: 1 });
    await assert.rejects(get().then((r) => r.text()));
  } finally {
    await emu.faults({ error_503_rate: 0, error_500_rate: 0, drop_rate: 0, truncate_rate: 0 });
  }
  assert.equal((await get()).status, 200);
});

test('raw HTTP: bad bodies, unknown paths, bad parameters give Salesforce errors', async () => {
  await conn.query('SELECT Id FROM Account LIMIT 1'); // make sure the session is live
  const base = `${emu.url}/services/data/v59.0`;
  const call = async (method, path, body, headers = {}) => {
    const res = await fetch(base + path, {
      method,
      headers: { Authorization: `Bearer ${conn.accessToken}`, 'content-type': 'application/json', ...headers },
      body,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, limit: res.headers.get('sforce-limit-info') };
  };
  let r = await call('POST', '/sobjects/Contact', '{"LastName": ');
  assert.equal(r.status, 400);
  assert.equal(r.body[0].errorCode, 'JSON_PARSER_ERROR');
  r = await call('POST', '/sobjects/Contact', '[]');
  assert.equal(r.body[0].errorCode, 'JSON_PARSER_ERROR');
  r = await call('GET', '/nothing/here');
  assert.equal(r.status, 404);
  assert.equal(r.body[0].errorCode, 'NOT_FOUND');
  assert.match(r.limit, /^api-usage=/);
  r = await call('GET', '/sobjects/Contact/updated/?start=yesterday&end=now');
  assert.equal(r.status, 400);
  r = await call('GET', '/sobjects/Contact/deleted/');
  assert.equal(r.body[0].errorCode, 'MISSING_ARGUMENT');
  r = await call('GET', '/query/01gDn000000000777-2000');
  assert.equal(r.body[0].errorCode, 'INVALID_QUERY_LOCATOR');
  r = await call('GET', `/sobjects/Contact/${'x'.repeat(300)}`);
  assert.equal(r.body[0].errorCode, 'NOT_FOUND');
  const tooMany = { allOrNone: false, records: Array.from({ length: 201 }, () => ({ attributes: { type: 'Contact' }, LastName: 'x' })) };
  r = await call('POST', '/composite/sobjects', JSON.stringify(tooMany));
  assert.equal(r.status, 400);
  r = await call('POST', '/composite/sobjects', JSON.stringify({ records: [{ LastName: 'no type' }] }));
  assert.equal(r.body[0].success, false);
  r = await call('DELETE', '/composite/sobjects?ids=garbage,003Dn0000000001IAA');
  assert.equal(r.body[0].success, false);
  r = await call('PUT', '/sobjects/Contact/003Dn0000000001IAA', '{}');
  assert.equal(r.status, 405);
  const token = await fetch(`${emu.url}/services/oauth2/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=refresh_token&client_id=test-client&refresh_token=forged',
  });
  assert.equal(token.status, 400);
  assert.equal((await token.json()).error, 'invalid_grant');
  const versions = await fetch(`${emu.url}/services/data/`).then((x) => x.json());
  assert.ok(versions.some((v) => v.version === '59.0'));
});
