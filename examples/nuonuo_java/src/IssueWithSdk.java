// An invoicing client written against the official 诺诺 SDK (com.nuonuo:open-sdk 1.0.5.2),
// pointed at the fake platform by its URLs alone: token, requestBillingNew, queryInvoiceResult
// until the order is decided, the same orderNo again (E9106), and a wrong app secret (070601).
// Usage: java -cp "lib/*:." IssueWithSdk BASE_URL APP_KEY APP_SECRET TAX_NUMBER ORDER_NO
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import nuonuo.open.sdk.NNOpenSDK;

public class IssueWithSdk {
    static String field(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\"\\s*:\\s*\"([^\"]*)\"").matcher(json);
        return m.find() ? m.group(1) : "";
    }

    public static void main(String[] args) throws Exception {
        String base = args[0], appKey = args[1], appSecret = args[2], taxnum = args[3], orderNo = args[4];
        String url = base + "/open/v1/services";
        NNOpenSDK sdk = NNOpenSDK.getIntance();

        // the SDK's token call, given the fake's token URL instead of open.nuonuo.com
        String tokenJson = sdk.getMerchantToken(appKey, appSecret, base + "/accessToken");
        String token = field(tokenJson, "access_token");
        System.out.println("token " + (token.isEmpty() ? "none: " + tokenJson : "ok"));

        String order = "{\"order\":{\"orderNo\":\"" + orderNo + "\",\"invoiceDate\":\"2026-12-06 10:00:00\","
            + "\"buyerName\":\"张三\",\"salerTaxNum\":\"" + taxnum + "\",\"invoiceType\":\"1\","
            + "\"invoiceLine\":\"pc\",\"clerk\":\"王五\",\"invoiceDetail\":[{\"goodsName\":\"茶叶\","
            + "\"num\":\"2\",\"price\":\"50.00\",\"taxRate\":\"0.13\",\"withTaxFlag\":\"0\"}]}}";
        String issue = "nuonuo.OpeMplatform.requestBillingNew";
        String submitted = sdk.sendPostSyncRequest(url, senid(), appKey, appSecret, token, taxnum, issue, order);
        String serial = field(submitted, "invoiceSerialNum");
        System.out.println("submit " + field(submitted, "code") + " " + field(submitted, "describe") + " " + serial);

        String query = "{\"serialNos\":[\"" + serial + "\"],\"isOfferInvoiceDetail\":\"0\"}";
        String status = "", number = "";
        for (int i = 0; i < 100 && !(status.equals("2") || status.equals("22") || status.equals("24")); i++) {
            Thread.sleep(200);
            String r = sdk.sendPostSyncRequest(url, senid(), appKey, appSecret, token, taxnum,
                                               "nuonuo.OpeMplatform.queryInvoiceResult", query);
            status = field(r, "status");
            number = field(r, "allElectronicInvoiceNumbe");
        }
        System.out.println("status " + status + " " + number);

        String again = sdk.sendPostSyncRequest(url, senid(), appKey, appSecret, token, taxnum, issue, order);
        System.out.println("again " + field(again, "code"));

        String forged = sdk.sendPostSyncRequest(url, senid(), appKey, "not-the-secret", token, taxnum, issue, order);
        System.out.println("wrong-signature " + field(forged, "code"));
    }

    static String senid() {
        return UUID.randomUUID().toString().replace("-", "");
    }
}
