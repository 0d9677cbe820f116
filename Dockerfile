# Builds the service jar and runs it on a JRE. Routes are read from /app/routes (mount your own over it).
FROM eclipse-temurin:17-jdk AS build
WORKDIR /src
COPY .mvn .mvn
COPY mvnw pom.xml ./
RUN ./mvnw -B -q dependency:go-offline
COPY src src
RUN ./mvnw -B -q -DskipTests package && cp target/calsync-*-exec.jar /src/calsync.jar
# the jar extracted: the application in calsync.jar, the libraries as plain jars in lib/ (no nested-jar class loading)
RUN java -Djarmode=tools -jar /src/calsync.jar extract --destination /src/app

# Java 25 at run time (the code is built for Java 17): its AOT cache starts the service faster than Java 17's class
# data sharing (docs/PERFORMANCE.md, "Start-up")
FROM eclipse-temurin:25-jre
RUN useradd --system --uid 10001 calsync
WORKDIR /app
COPY --from=build /src/app /app
COPY routes /app/routes
# the AOT cache (JEP 483, 514): a training run creates the application context (no database needed: Flyway off,
# nothing starts), exits, and leaves the classes it loaded, linked and profiled in calsync.aot for every start
RUN java -XX:AOTCacheOutput=/app/calsync.aot -Dspring.context.exit=onRefresh -jar /app/calsync.jar \
        --calsync.database.migrate=false > /tmp/aot-training.log 2>&1 || (cat /tmp/aot-training.log; false)
USER calsync
# 8080: API, admin; 8081: actuator (MANAGEMENT_SERVER_PORT; health probes, metrics: keep it off the public network);
# 8082: the webhook listener. The image has curl (eclipse-temurin installs it) for a health check of
# http://127.0.0.1:8081/actuator/health/readiness (docker-compose.yml)
EXPOSE 8080 8081 8082
ENTRYPOINT ["java", "-XX:AOTCache=/app/calsync.aot", "-jar", "/app/calsync.jar"]
