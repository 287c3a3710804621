// GET the URL given and print the status: Java trusts the run's CA only through the
// JAVA_TOOL_OPTIONS trust store the harness sets, with no code for it here.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class Probe {
    public static void main(String[] args) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(
            HttpRequest.newBuilder(URI.create(args[0])).build(), HttpResponse.BodyHandlers.ofString());
        System.out.println(r.statusCode());
    }
}
