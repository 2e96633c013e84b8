// Package firefox starts headless Firefox (Debian's firefox-esr) for the
// browser tests and drives it over WebDriver BiDi
// (https://w3c.github.io/webdriver-bidi/), which Firefox speaks natively on
// its --remote-debugging-port: no geckodriver is needed.
//
// Only what the tests use is implemented: a session, the first browsing
// context, navigation, evaluating a script whose result comes back as JSON,
// and the page's console. Each Browser has a fresh profile directory with
// the preferences a test needs (fake camera and microphone, no permission
// prompts, no traffic to Mozilla's services); Close ends the browser's
// whole process group and removes the profile.
//
// Firefox gathers no ICE candidates on 127.0.0.1, so a test that connects
// it to a WebRTC server must give it another address (a veth pair of a
// network namespace, loadtest.Lab). The package knows nothing of the SFU.
package firefox
