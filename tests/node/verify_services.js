// The official Twilio Node SDK, as a migrating application reads its Verify service at
// start-up. Run by tests/twilio_verify/test_node_sdk.py:
//   node verify_services.js <twilio4|twilio5|twilio6> <base url> <account sid> <token> <service sid>
// Prints one JSON object: the fetched service, the listed services, and the error of a
// fetch of an unknown service.
"use strict";

const [sdkName, baseUrl, accountSid, authToken, serviceSid] = process.argv.slice(2);
const twilio = require(sdkName);

async function main() {
  const client = twilio(accountSid, authToken);
  client.verify.baseUrl = baseUrl; // the one line a migration changes
  const service = await client.verify.v2.services(serviceSid).fetch();
  const listed = await client.verify.v2.services.list({ pageSize: 1 });
  let unknown = null;
  try {
    await client.verify.v2.services("VA" + "f".repeat(32)).fetch();
  } catch (err) {
    unknown = { status: err.status, code: err.code };
  }
  const version = require(`${sdkName}/package.json`).version;
  console.log(
    JSON.stringify({
      version,
      service: {
        sid: service.sid,
        accountSid: service.accountSid,
        friendlyName: service.friendlyName,
        codeLength: service.codeLength,
        lookupEnabled: service.lookupEnabled,
        url: service.url,
        links: service.links,
      },
      listed: listed.map((s) => s.sid),
      unknown,
    }),
  );
}

main().catch((err) => {
  console.error(`${err.name}: ${err.message} (status ${err.status}, code ${err.code})`);
  process.exit(1);
});
