// Package har turns a browser recording (a HAR 1.2 file, as DevTools, Firefox and
// proxies export it) into a first Stampede behaviour script: one user class whose
// tasks replay the recorded requests in order, one task per page visit or burst of
// requests.
//
// What it does to the recording, in order:
//
//   - keeps the requests to the recording's main host (the first document's, else the
//     first request's) and to the hosts the caller includes; drops static assets
//     (by extension or response type) unless asked to keep them, requests that got
//     no response, and the GET that only followed a recorded redirect (the client
//     follows redirects itself);
//   - groups the requests into steps: a new step starts with a new page, or after an
//     idle gap of StepGap; the gaps between steps become the class's think time,
//     wait=between(shortest, longest);
//   - names dynamic URLs (numbers, UUIDs, hashes, long tokens in the path; every
//     query value) with name= so that one endpoint is one row;
//   - keeps request bodies (JSON as a literal, forms as a dict, anything else as a
//     string with its Content-Type) and the headers a server needs (Authorization,
//     X-*, a non-default Accept); cookies are left to each user's cookie jar;
//   - correlates: a value a response returned (a JSON field, a non-standard
//     header, a hidden form field or CSRF meta tag) that a later request sent back is
//     read from the response into u.vars and sent from there, with a comment that
//     says the link was guessed from equal values.
//
// It owns no state and starts no goroutine: Convert is a pure function, safe for
// concurrent use. It knows nothing of the runner: the script it writes uses only the
// documented script API (docs/scripts.md).
package har
