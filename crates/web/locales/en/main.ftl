## Every page
site-name = shuin certification authority
skip-to-content = Skip to the content
nav-label = Main pages
nav-apply = Apply
nav-status = Application status
nav-revoke = Revocation
nav-disclosure = Disclosure
nav-repository = Repository
footer-text = An accredited certification business under the Act on Electronic Signatures and Certification Business. What these pages say follows the certification practice statement (CP/CPS).

## How to apply
apply-title = Applying for a certificate
apply-intro = You apply with an application signed by the signing certificate of your My Number card. The application carries the public key of a new key pair (a CSR) and the four basic items (name, date of birth, address, gender). When the signature and the four items are checked, the certificate is issued.
apply-need-title = What you need
apply-need-card = A My Number card whose signing certificate is valid
apply-need-pin = The signing certificate's password (6 to 16 letters and digits; the card locks after 5 wrong tries)
apply-need-reader = An IC card reader, or a phone with NFC, that can read the card
apply-need-client = The application software (the shuin command line, or an app this CA names)
apply-terms-title = The terms
apply-terms-text = Read the terms before you apply. Your application carries the terms' SHA-256 hash, which names the document you agree to. Do not agree to a document with another hash than the one below.
terms-document = Terms
apply-steps-title = Steps
apply-step-pin-file = Put the password in a file that only you can read (chmod 600).
apply-step-command = Place the card on the reader and run this command. Type the name, date of birth, address and gender exactly as the card shows them.
apply-step-outcome = An issued certificate is written to cert.pem. If a review is needed, the command shows your application number.
apply-status-link = Check an application's status by its number

## Application status
status-title = Application status
status-id-label = Application number
status-id-hint = The number (hexadecimal) shown when you applied.
status-submit = Check
status-of = Status of application { $id }
status-not-found = There is no application with this number. Please check the number.
status-pending = An operator of the registration authority is reviewing it. Please wait until the review ends. The reasons for the review:
status-approved = Approved. The certificate is being issued.
status-issued = The certificate has been issued. Its serial number is { $serial }.
status-issued-fetch = You can download the certificate with the shuin fetch command and the application number.
status-rejected = The application was not accepted. The reason code:
status-unavailable = The status cannot be read right now. Please try again in a moment.

## Revocation
revoke-title = Revoking a certificate
revoke-intro = If you lost your key, or someone else may know it, have the certificate revoked at once. A revocation cannot be undone.
revoke-how-title = How to ask
revoke-by-key = Send a revocation request signed with the certificate's own key.
revoke-by-card = If the key cannot be used, send a revocation request signed with the signing certificate of the My Number card you applied with. The four basic items must match those recorded at issuance.
revoke-by-desk = Ask at the CA's desk. An operator of the registration authority checks your identity and revokes the certificate.
revoke-api = Where requests are sent:
revoke-after-title = After the revocation
revoke-after = A revoked certificate appears as revoked on the next certificate revocation list (CRL) and in the OCSP answers. Verifiers can check it in the repository.
revoke-reissue = When you renew (reissue) a certificate, the old one is revoked as "superseded".
revoke-repository-link = The repository (CRLs and OCSP)

## Disclosure
disclosure-title = Disclosure of your records
disclosure-intro = The holder of a certificate can ask for the records this CA keeps about them. The request is signed with the signing certificate of the My Number card you applied with. Nobody can obtain another person's records.
disclosure-what-title = What you receive
disclosure-what-applications = Your applications and the signed applications themselves
disclosure-what-personal = The records of personal data that the books refer to by commitment
disclosure-what-certificates = The certificates issued to you and their revocations
disclosure-how-title = How to ask
disclosure-how = Place the card on the reader and run this command. The records come back at once and are written to a file only you can read. The disclosure is recorded in the books.
disclosure-others = If no application was made with this card, the answer is "no_records_held".

## Repository
repository-title = Repository
repository-intro = For those who verify signatures: the CA's certificates, the certificate revocation lists (CRLs), OCSP, and the certification practice statement.
repository-certificates-title = CA certificates
certificate-root = Root CA
certificate-issuing = Issuing CA
certificate-subject = Subject
certificate-validity = Validity
certificate-fingerprint = Fingerprint (SHA-256)
download = Download (DER)
repository-crls-title = Certificate revocation lists (CRLs)
repository-no-crl = No CRL is published yet. Please check again shortly.
repository-crls-caption = Published CRLs
crl-file = File
crl-number = CRL number
crl-next-update = Next update (nextUpdate)
repository-ocsp-title = OCSP
repository-ocsp-text = A certificate's status can also be checked with OCSP (RFC 6960). The answers are signed in advance. Where requests are sent:
repository-documents-title = Documents
cps-document = Certification practice statement (CP/CPS)
cps-not-published = Not published

## Why an application is reviewed
review-name-substitute-characters = The name holds characters the card could not encode (substitute characters).
review-address-substitute-characters = The address holds characters the card could not encode (substitute characters).
review-birth-date-era-unknown = The era of the date of birth must be checked.
review-automation-suspended = Automatic approval is suspended, so an operator reviews every application.

## Monitoring (remote zone)
nav-monitoring = Monitoring
monitoring-title = Monitoring
monitoring-intro = The state of this server: the same figures as /metrics (Prometheus format), as read when this page was loaded.
monitoring-labels = Labels
monitoring-value = Value
metric-shuin-up = Up (1 while the server answers)
metric-shuin-sealed = Sealed (1 while waiting for the custodians' shares)
metric-shuin-ledger-entries = Entries in the books
metric-shuin-ledger-checkpoint-size = Entries covered by the newest signed checkpoint
metric-shuin-crl-next-update-seconds = Next update (nextUpdate) of each published CRL
metric-shuin-crl-number = Number of each published CRL
metric-shuin-time-seconds = The server's clock
metric-shuin-http-responses-total = HTTP answers since start, by listener zone and status class
metric-shuin-refusals-unledgered-total = Refused requests signed by unknown keys since start (logged, not ledgered)
metric-shuin-key-sessions = Signing sessions of the key backend
metric-shuin-key-signatures-in-flight = Signatures running now
metric-shuin-key-signatures-waiting = Signatures waiting for a free session
metric-shuin-key-signatures-total = Signatures since start (failed ones included)
metric-shuin-key-signature-errors-total = Failed signatures since start
metric-shuin-process-open-fds = Open file descriptors of the process
metric-shuin-process-resident-memory-bytes = Resident memory of the process (bytes)
metric-shuin-jpki-crls = J-LIS CRLs in use (while 0, every application is refused)
metric-shuin-jpki-crl-this-update-seconds = Issued (thisUpdate) of each J-LIS CRL in use
metric-shuin-jpki-crl-next-update-seconds = Next update (nextUpdate) of each J-LIS CRL in use (past it, applications are refused)
