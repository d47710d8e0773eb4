package cards_test

import (
	"fmt"

	"okrbot/cards"
	"okrbot/internal/okr"
)

func ExamplePeriodCreated() {
	card := cards.PeriodCreated(cards.Created{
		PeriodID:    "7301234567890123456",
		StartMonth:  "2022-01",
		EndMonth:    "2022-03",
		Rule:        okr.Rule{ID: "7290000000000000002", Type: "month", Length: 3, FirstMonth: 1},
		RequestedBy: "ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d",
	})
	content, err := card.Encode() // the IM message's content field
	if err != nil {
		panic(err)
	}
	fmt.Println(content)
	// Output:
	// {"schema":"2.0","config":{"update_multi":true,"summary":{"content":"OKR period created","i18n_content":{"zh_cn":"OKR 周期已创建","en_us":"OKR period created"}}},"header":{"title":{"tag":"plain_text","content":"OKR period created","i18n_content":{"zh_cn":"OKR 周期已创建","en_us":"OKR period created"}},"subtitle":{"tag":"plain_text","content":"2022-01 to 2022-03","i18n_content":{"zh_cn":"2022-01 至 2022-03","en_us":"2022-01 to 2022-03"}},"template":"green"},"body":{"elements":[{"tag":"column_set","flex_mode":"none","horizontal_spacing":"8px","columns":[{"tag":"column","width":"weighted","weight":1,"elements":[{"tag":"markdown","content":"**Period ID**\n7301234567890123456","i18n_content":{"zh_cn":"**周期 ID**\n7301234567890123456","en_us":"**Period ID**\n7301234567890123456"}}]},{"tag":"column","width":"weighted","weight":1,"elements":[{"tag":"markdown","content":"**Requested by**\n<at id=ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d></at>","i18n_content":{"zh_cn":"**发起人**\n<at id=ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d></at>","en_us":"**Requested by**\n<at id=ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d></at>"}}]}]},{"tag":"column_set","flex_mode":"none","horizontal_spacing":"8px","columns":[{"tag":"column","width":"weighted","weight":1,"elements":[{"tag":"markdown","content":"**Start month**\n2022-01","i18n_content":{"zh_cn":"**起始月份**\n2022-01","en_us":"**Start month**\n2022-01"}}]},{"tag":"column","width":"weighted","weight":1,"elements":[{"tag":"markdown","content":"**End month**\n2022-03","i18n_content":{"zh_cn":"**结束月份**\n2022-03","en_us":"**End month**\n2022-03"}}]}]},{"tag":"markdown","content":"**Period rule**\nQuarterly from January\nRule ID 7290000000000000002","i18n_content":{"zh_cn":"**周期规则**\n季度（1 月起）\n规则 ID 7290000000000000002","en_us":"**Period rule**\nQuarterly from January\nRule ID 7290000000000000002"}}]}}
}
