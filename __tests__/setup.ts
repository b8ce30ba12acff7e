import nock from 'nock';

// No test may reach the network: Okta is mocked with nock, servers listen on 127.0.0.1.
nock.disableNetConnect();
nock.enableNetConnect((host) => host.startsWith('127.0.0.1') || host.startsWith('localhost'));
