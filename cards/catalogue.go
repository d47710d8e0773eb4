package cards

// Entry is one row of the error catalogue: what a code means and what to
// do about it. Whether a retry may help is not the catalogue's to say: the
// caller passes the code's class from internal/feishu's one code table.
type Entry struct {
	Code       int
	HTTPStatus int
	Meaning    Text
	Advice     Text
}

// catalogue lists the Feishu codes the bot explains: first the Create
// Period API's own codes (README, "The cards"), then the platform codes a
// call may meet on the way. Read-only; Entries hands out copies.
var catalogue = [...]Entry{
	{1009999, 500, Text{"未知错误", "Unknown error"},
		Text{"飞书内部错误。请稍后重试；如仍失败，请联系飞书助手或您的客户成功经理。",
			"Internal error at Feishu. Retry in a moment; if it keeps failing, contact Feishu support (Feishu Assistant) or your customer success manager."}},
	{1001001, 400, Text{"无效的参数", "Invalid parameters"},
		Text{"请对照文档检查输入的参数：起始月份应为 YYYY-MM，周期规则 ID 应是本租户的规则（发送 /周期规则 查看）。",
			"Check the parameters against the documentation: the start month must be YYYY-MM and the period rule id one of this tenant's rules (send /rules to see them)."}},
	{1001002, 403, Text{"无权限", "No permission"},
		Text{"应用无权调用该接口：请确认应用凭证正确，并在开发者后台为应用开通 `okr:okr` 权限后发布新版本。",
			"The app may not call this API: check the app's credentials, and grant it the `okr:okr` scope in the developer console, then publish a new version."}},
	{1001003, 400, Text{"用户不存在", "User not found"},
		Text{"用户不存在：请确认该用户在本租户中并已开通 OKR。",
			"The user does not exist: check that the user belongs to this tenant and has OKR enabled."}},
	{1001004, 400, Text{"OKR 数据不存在", "OKR data not found"},
		Text{"对应 ID 的数据不存在，多半是周期规则 ID 有误：发送 /周期规则 查看可用的规则。",
			"No data exists for that id, most likely the period rule id: send /rules to see the rules that exist."}},
	{1000403, 403, Text{"当前套餐（标准版）无法使用开放平台接口", "OpenAPI unavailable in the Standard edition"},
		Text{"您目前的套餐无法使用开放平台接口功能，请联系管理员升级至 OKR 企业版。",
			"The tenant's OKR plan does not include the OpenAPI: ask your admin to upgrade to the OKR Business edition."}},
	{1001008, 400, Text{"周期冲突", "Conflict period existed"},
		Text{"对应时间的周期已存在，无需再度创建；发送 /周期列表 查看。",
			"A period for that time already exists; no need to create it. Send /periods to see it."}},
	{1001009, 400, Text{"起始日期和周期规则不匹配", "Start date does not fit the period rule"},
		Text{"起始月份与周期规则不匹配：请选择落在该规则周期上的月份，或换一个规则（发送 /周期规则 查看）。",
			"The start month does not match the rule: choose a month on the rule's cycle, or another rule (send /rules to see them)."}},

	{1009998, 500, Text{"系统异常", "System exception"},
		Text{"飞书临时异常，请稍后重试。", "A temporary error at Feishu; retry in a moment."}},
	{99991663, 400, Text{"租户访问凭证（tenant_access_token）无效或已过期", "Tenant access token invalid or expired"},
		Text{"机器人已自动重新获取凭证并重试过一次，仍被拒绝：请稍后重试；如反复出现，请检查 FEISHU_APP_ID / FEISHU_APP_SECRET。",
			"The bot fetched a new token and tried once more, and it was still refused: retry in a moment. If this keeps happening, check FEISHU_APP_ID / FEISHU_APP_SECRET."}},
	{99991671, 400, Text{"访问凭证格式错误", "Malformed access token"},
		Text{"机器人已自动重新获取凭证并重试过一次，仍被拒绝：请稍后重试；如反复出现，请检查 FEISHU_BASE_URL 是否指向飞书开放平台，以及应用凭证。",
			"The bot fetched a new token and tried once more, and it was still refused: retry in a moment. If this keeps happening, check that FEISHU_BASE_URL points at the Feishu Open Platform, and the app credentials."}},
	{99991664, 400, Text{"应用访问凭证（app_access_token）无效", "Invalid app access token"},
		Text{"机器人已自动重新获取凭证并重试过一次，仍被拒绝：请稍后重试；如反复出现，请检查 FEISHU_APP_ID / FEISHU_APP_SECRET 是否属于同一个已启用的应用。",
			"The bot fetched a new token and tried once more, and it was still refused: retry in a moment. If this keeps happening, check that FEISHU_APP_ID / FEISHU_APP_SECRET belong to one enabled app."}},
	{99991661, 400, Text{"缺少访问凭证", "Missing access token"},
		Text{"请求未携带访问凭证：请检查机器人的 FEISHU_APP_ID / FEISHU_APP_SECRET 配置，然后重启机器人。",
			"The request carried no access token: check the bot's FEISHU_APP_ID / FEISHU_APP_SECRET settings, then restart the bot."}},
	{99991672, 400, Text{"应用缺少接口权限", "Missing API scope"},
		Text{"请在飞书开发者后台为应用开通 `okr:okr` 和 `im:message` 权限，并发布新版本。",
			"Grant the app the `okr:okr` and `im:message` scopes in the Feishu developer console, then publish a new version."}},
	{99991400, 429, Text{"请求频率超限", "Rate limited"},
		Text{"短时间内请求过多：请等待约一分钟后重试。", "Too many requests to Feishu: wait about a minute, then retry."}},
	{10014, 400, Text{"应用凭证被拒绝（应用未授权或不可用）", "App credentials rejected (app not authorised or unavailable)"},
		Text{"请检查 FEISHU_APP_ID / FEISHU_APP_SECRET，并确认应用已在本租户启用。",
			"Check FEISHU_APP_ID / FEISHU_APP_SECRET and that the app is enabled in this tenant."}},
	{10015, 400, Text{"应用凭证被拒绝（App Secret 错误）", "App credentials rejected (wrong app secret)"},
		Text{"请检查 FEISHU_APP_ID / FEISHU_APP_SECRET 是否与开发者后台一致（如重置过密钥，请更新配置）。",
			"Check that FEISHU_APP_ID / FEISHU_APP_SECRET match the developer console (update them if the secret was reset)."}},
	{230002, 400, Text{"机器人不在该群中", "Bot not in the chat"},
		Text{"请先把机器人添加到该群（群设置 → 群机器人），再重新发送命令。",
			"Add the bot to this group (group settings → Bots), then send the command again."}},
	{230011, 400, Text{"消息已被撤回", "The message was withdrawn"},
		Text{"原消息已撤回，无法更新这张卡片：如仍需要，请重新发送命令。",
			"The message was withdrawn, so its card can't be updated: send the command again if you still need it."}},
	{230031, 400, Text{"卡片已超过可更新期限", "The card can no longer be updated"},
		Text{"飞书只允许在 14 天内更新卡片：请重新发送命令。",
			"Feishu allows updating a card for 14 days only: send the command again."}},
	{230020, 400, Text{"群聊消息频率超限", "Chat rate limit"},
		Text{"该会话中消息过多：请等几秒后重试。", "Too many messages in this chat right now: wait a few seconds, then retry."}},
}

// Lookup returns the catalogue entry for a Feishu code.
func Lookup(code int) (Entry, bool) {
	for _, e := range catalogue {
		if e.Code == code {
			return e, true
		}
	}
	return Entry{}, false
}

// Entries returns the whole catalogue in a stable order: the Create Period
// API's codes first, then platform codes.
func Entries() []Entry {
	return append([]Entry(nil), catalogue[:]...)
}

// Cause says why a call failed when Feishu gave no code.
type Cause int

// The causes of a failure without a Feishu code.
const (
	CauseNone Cause = iota
	CauseNetwork
	CauseTimeout
	CauseStopped // the bot stopped (shutdown) before or while it made the call
)

// CauseEntry returns the catalogue-style entry (Code 0) for a failure
// without a Feishu code.
func CauseEntry(c Cause) Entry {
	switch c {
	case CauseNetwork:
		return Entry{Meaning: Text{"网络错误：无法连接飞书开放平台", "Network error: the Feishu Open Platform could not be reached"},
			Advice: Text{"请稍后重试；如仍失败，请让机器人管理员检查网络和 FEISHU_BASE_URL。",
				"Retry in a moment; if it keeps failing, ask the bot's admin to check the network and FEISHU_BASE_URL."},
		}
	case CauseTimeout:
		return Entry{Meaning: Text{"超时：飞书未及时响应", "Timeout: Feishu did not answer in time"},
			Advice: Text{"请求可能已经生效：请先发送 /周期列表 确认，再决定是否重试。",
				"The request may still have taken effect: send /periods to check before you retry."}}
	case CauseStopped:
		return Entry{Meaning: Text{"机器人正在重启，未能完成", "The bot was restarting and could not finish"},
			Advice: Text{"请稍后重试；如这一步可能已经生效，请先发送 /周期列表 确认。",
				"Retry in a moment; if this step may already have taken effect, send /periods to check first."}}
	}
	return Entry{Meaning: Text{"意外错误", "Unexpected error"},
		Advice: Text{"请重试；如仍失败，请联系机器人管理员（日志中有详细信息）。",
			"Retry; if it keeps failing, tell the bot's admin (the bot's logs have the details)."}}
}
