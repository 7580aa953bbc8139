// Slack's Bolt JS answering the same requests as the bot, ack only, nothing
// recorded: the reference point of loadbench -bolt. Install once with
// `npm install --prefix cmd/loadbench/bolt`; loadbench starts it with
// SLACK_SIGNING_SECRET set and reads "listening <addr>" from its stdout.
const { App, HTTPReceiver, LogLevel } = require('@slack/bolt');

const receiver = new HTTPReceiver({
  signingSecret: process.env.SLACK_SIGNING_SECRET,
  endpoints: ['/slack/events', '/slack/commands'],
});
const app = new App({
  receiver,
  token: process.env.SLACK_BOT_TOKEN,
  // The bot's identity is given, so Bolt never calls auth.test; any Web API
  // call would go to a closed loopback port: there is no Slack here.
  tokenVerificationEnabled: false,
  botId: 'BLOADBOT1',
  botUserId: 'ULOADBOT1',
  clientOptions: { slackApiUrl: 'http://127.0.0.1:9/api/' },
  logLevel: LogLevel.ERROR,
});

app.command('/agent', async ({ ack }) => {
  await ack();
});
// Bolt acks events itself before listeners run.
app.event('app_mention', async () => {});

(async () => {
  const server = await app.start({ port: 0, host: '127.0.0.1' });
  const { address, port } = server.address();
  process.stdout.write(`listening ${address}:${port}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
})();
