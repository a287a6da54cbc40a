## Every page
site-name = shuin 認証局
skip-to-content = 本文へ移動
nav-label = 主なページ
nav-apply = 申込み
nav-status = 申込状況
nav-revoke = 失効
nav-disclosure = 情報開示
nav-repository = リポジトリ
footer-text = 電子署名及び認証業務に関する法律に基づく認定認証業務です。各ページの内容は認証業務規程（CP/CPS）に従います。

## How to apply
apply-title = 電子証明書の申込み
apply-intro = 申込みは、マイナンバーカードの署名用電子証明書で署名した申込書で行います。申込書には、新しく生成する鍵の公開鍵（CSR）と基本4情報（氏名、生年月日、住所、性別）が含まれます。署名と基本4情報が確認されると、電子証明書が発行されます。
apply-need-title = 必要なもの
apply-need-card = 署名用電子証明書が有効なマイナンバーカード
apply-need-pin = 署名用電子証明書の暗証番号（英数字6〜16文字。5回誤ると使えなくなります）
apply-need-reader = カードを読み取れる ICカードリーダー、または NFC 対応のスマートフォン
apply-need-client = 申込みソフトウェア（shuin のコマンドライン、またはこの認証局が案内するアプリ）
apply-terms-title = 重要事項
apply-terms-text = 申込みの前に重要事項をお読みください。申込書には重要事項の SHA-256 ハッシュ値が含まれ、同意した文書が特定されます。下のハッシュ値と異なる文書には同意しないでください。
terms-document = 重要事項
apply-steps-title = 申込みの手順
apply-step-pin-file = 暗証番号を、本人だけが読めるファイルに保存します（chmod 600）。
apply-step-command = カードをリーダーに置き、次のコマンドを実行します。氏名、生年月日、住所、性別は、カードの記載のとおりに入力してください。
apply-step-outcome = 電子証明書が発行されると cert.pem に保存されます。審査が必要な場合は申込番号が表示されます。
apply-status-link = 申込番号で状況を確認する

## Application status
status-title = 申込状況の確認
status-id-label = 申込番号
status-id-hint = 申込み時に表示された番号（16進数）を入力してください。
status-submit = 確認する
status-of = 申込番号 { $id } の状況
status-not-found = この番号の申込みはありません。番号をご確認ください。
status-pending = 登録局の担当者が審査しています。審査が終わるまでお待ちください。審査の理由は次のとおりです。
status-approved = 承認されました。電子証明書を発行しています。
status-issued = 電子証明書を発行しました。シリアル番号は { $serial } です。
status-issued-fetch = 電子証明書は shuin fetch コマンドで申込番号を指定して取得できます。
status-rejected = 申込みは受け付けられませんでした。理由のコードは次のとおりです。
status-unavailable = ただいま状況を確認できません。しばらくしてからもう一度お試しください。

## Revocation
revoke-title = 電子証明書の失効
revoke-intro = 鍵をなくした、または他人に知られたおそれがあるときは、すぐに電子証明書を失効させてください。失効は取り消せません。
revoke-how-title = 失効の申請方法
revoke-by-key = 電子証明書の鍵で署名した失効申請を送る。
revoke-by-card = 鍵が使えないときは、申込みに使ったマイナンバーカードの署名用電子証明書で署名した失効申請を送る。基本4情報が発行時の記録と一致する必要があります。
revoke-by-desk = 認証局の窓口に申し出る。登録局の担当者が本人確認のうえ失効させます。
revoke-api = 失効申請の送り先：
revoke-after-title = 失効の後
revoke-after = 失効した電子証明書は、次の証明書失効リスト（CRL）と OCSP の応答に「失効」として載ります。検証者はリポジトリで確認できます。
revoke-reissue = 電子証明書を更新（再発行）すると、古い電子証明書は「superseded」として失効します。
revoke-repository-link = リポジトリ（CRL と OCSP）

## Disclosure
disclosure-title = 名義人への情報開示
disclosure-intro = 電子証明書の名義人は、この認証局が保管している自分の記録の開示を求めることができます。開示の申請には、申込みに使ったマイナンバーカードの署名用電子証明書で署名します。他人の記録を得ることはできません。
disclosure-what-title = 開示される記録
disclosure-what-applications = 申込みとその署名された申込書
disclosure-what-personal = 帳簿がコミットメントで参照している個人情報の記録
disclosure-what-certificates = 発行した電子証明書と失効の記録
disclosure-how-title = 申請の方法
disclosure-how = カードをリーダーに置き、次のコマンドを実行します。記録はすぐに返され、本人だけが読めるファイルに保存されます。開示は帳簿に記録されます。
disclosure-others = このカードで申し込んだ記録がない場合は「no_records_held」と表示されます。

## Repository
repository-title = リポジトリ
repository-intro = 電子署名を検証する方のための、認証局の電子証明書、証明書失効リスト（CRL）、OCSP、認証業務規程です。
repository-certificates-title = 認証局の電子証明書
certificate-root = ルート認証局
certificate-issuing = 発行認証局
certificate-subject = 主体者
certificate-validity = 有効期間
certificate-fingerprint = フィンガープリント（SHA-256）
download = ダウンロード（DER）
repository-crls-title = 証明書失効リスト（CRL）
repository-no-crl = まだ CRL は公開されていません。しばらくしてからもう一度ご確認ください。
repository-crls-caption = 公開中の CRL
crl-file = ファイル
crl-number = CRL 番号
crl-next-update = 次回更新予定（nextUpdate）
repository-ocsp-title = OCSP
repository-ocsp-text = 電子証明書の状態は OCSP（RFC 6960）でも確認できます。応答は事前に署名されています。送り先：
repository-documents-title = 文書
cps-document = 認証業務規程（CP/CPS）
cps-not-published = 公開されていません

## Why an application is reviewed
review-name-substitute-characters = 氏名に、カードの文字コードで表せない文字（代替文字）が含まれています。
review-address-substitute-characters = 住所に、カードの文字コードで表せない文字（代替文字）が含まれています。
review-birth-date-era-unknown = 生年月日の元号を確認する必要があります。
review-automation-suspended = 自動審査が一時停止されているため、担当者が審査します。

## Monitoring (remote zone)
nav-monitoring = 監視
monitoring-title = 監視
monitoring-intro = このサーバーの状態です。/metrics（Prometheus 形式）と同じ数値を、読み込んだ時点の値で表示しています。
monitoring-labels = ラベル
monitoring-value = 値
metric-shuin-up = 稼働（応答中は 1）
metric-shuin-sealed = 封印（カストディアンの分割鍵を待っている間は 1）
metric-shuin-ledger-entries = 帳簿のエントリ数
metric-shuin-ledger-checkpoint-size = 最新の署名付きチェックポイントが含むエントリ数
metric-shuin-crl-next-update-seconds = 公開中の CRL の次回更新予定（nextUpdate）
metric-shuin-crl-number = 公開中の CRL の番号
metric-shuin-time-seconds = サーバーの時計
metric-shuin-http-responses-total = 起動以降の HTTP 応答数（リスナーのゾーンと状態区分ごと）
metric-shuin-refusals-unledgered-total = 起動以降に拒否した、未知の鍵で署名された要求の数（帳簿には記録せず、ログに記録）
metric-shuin-key-sessions = 鍵バックエンドの署名セッション数
metric-shuin-key-signatures-in-flight = 実行中の署名
metric-shuin-key-signatures-waiting = セッションの空きを待っている署名
metric-shuin-key-signatures-total = 起動以降の署名の数（失敗を含む）
metric-shuin-key-signature-errors-total = 起動以降に失敗した署名の数
metric-shuin-process-open-fds = プロセスが開いているファイル記述子
metric-shuin-process-resident-memory-bytes = プロセスの常駐メモリ（バイト）
metric-shuin-jpki-crls = 使用中の J-LIS の CRL の数（0 の間はすべての申込みを受け付けません）
metric-shuin-jpki-crl-this-update-seconds = 使用中の J-LIS の CRL の発行日時（thisUpdate）
metric-shuin-jpki-crl-next-update-seconds = 使用中の J-LIS の CRL の次回更新予定（nextUpdate。過ぎると申込みを受け付けません）
